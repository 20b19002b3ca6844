// Fieldsync console: constants shared by several modules (job kinds, priorities, time units, the
// default visit length, byte units).

export const KINDS = ['installation', 'repair', 'maintenance', 'inspection', 'complaint'];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];

export const MIN = 60e3;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

export const DEFAULT_VISIT = 2 * HOUR; // length given to a dropped job that has no appointment yet

export const MIB = 1024 * 1024;
