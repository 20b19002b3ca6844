// Fieldsync console: the shared mutable state of the page (session, live stream, routing,
// per-view state that survives re-renders). One object, so every module sees the same values.

export const state = {
  csrf: null,
  me: null,
  events: null,
  eventsReady: false,
  lastPath: null, // first segment of the last routed path
  seq: 0, // bumped by every render; an async render that finds it changed drops its result
  refreshTimer: 0,
  errors: {}, // action errors that survive live re-renders: element id -> {hash, text}
  intakeDraft: null, // the call being typed on the intake page: input id -> value
  customerSearch: null, // the customer list's search: {q}, kept while the console is open
  jobSearch: null, // the job list's search: {q, status, sort}, kept while the console is open
  correcting: null, // the job whose details form is open
  returnVisit: null, // the return-visit form's chosen outcome on a job page: {job, outcome}
  statusAsk: null, // the reason being asked on a job page: {job, to, reason}, kept across re-renders
  board: { day: null, selected: null },
  drag: null,
  kpi: { period: 'month', from: '', to: '', region: '', category: '', kind: '', engineer: '' },
  // The upload form lives as long as the session, so typed text, chosen files and running
  // uploads survive moving between manuals and other pages.
  manuals: { form: null, latest: new Map(), selected: null, onList: null },
  reportLinks: {}, // job id -> the customer link made in this session
  queueFilter: null, // the queues' filters: {region, engineer, tier, kind}, kept while the console is open
  queuePicked: null, // the jobs picked on the queues for a bulk action: a Set of ids
  scheduleFor: null, // the installer whose working week is being edited on the people page, with the draft
  invitation: null, // the enrollment code just issued on the people page, shown once (until left)
  lists: null, // the managed lists of regions and problem categories, read before every page
};
