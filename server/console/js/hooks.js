// Fieldsync console: late-bound calls into main.js (routing and the sign-in form), so shared
// modules and views can re-render the page or bring up sign-in without importing main.js,
// which imports them. main.js installs the real functions with setHooks() before it boots.

const hooks = { route: null, showLogin: null };

/** Installs main.js's route(refresh) and showLogin(message). */
export function setHooks(fns) {
  Object.assign(hooks, fns);
}

/** Renders the view for the current hash (main.js's route(); refresh=true for a live update). */
export const route = (refresh) => hooks.route(refresh);

export const rerender = () => route(true);

/** Shows the sign-in form, with a message if given (main.js's showLogin()). */
export const showLogin = (message) => hooks.showLogin(message);
