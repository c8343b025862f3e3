// The dashboard's shell: the session (sign in / out), the navigation between screens by the
// URL hash (so the browser's back button and bookmarks work without any server routing), and
// which screens each role may see. Each screen lives in its own module.

import { ApiError, clearToken, getJson, getToken, setToken } from './api.js';
import { auditScreen } from './audit.js';
import { composeScreen } from './compose.js';
import { followersChart } from './followers.js';
import { identityChecks } from './identity.js';
import { setLanguage, t, translatePage } from './i18n.js';
import { approvalsScreen, queueScreen } from './queue.js';
import { crisisScreen } from './crisis.js';
import { announce, clearMessages, roleLabel, showError } from './dom.js';
import { imagesScreen } from './images.js';
import { timelineScreen } from './timeline.js';
import { xStatus } from './xstatus.js';

const ALL_ROLES = ['admin', 'planner', 'editor', 'crisis', 'auditor'];

// The API's own role checks decide; this only keeps people away from screens that would refuse them.
const SCREENS = {
  plan: { title: () => t('plan.title'), roles: ALL_ROLES, screen: timelineScreen },
  rediger: { title: () => t('compose.title'), roles: ['admin', 'editor'], screen: composeScreen },
  file: { title: () => t('queue.title'), roles: ALL_ROLES, screen: queueScreen },
  approbations: { title: () => t('approvals.title'), roles: ['admin', 'editor'], screen: approvalsScreen },
  crise: { title: () => t('crisis.title'), roles: ALL_ROLES, screen: crisisScreen },
  journal: { title: () => t('audit.title'), roles: ['admin', 'auditor'], screen: auditScreen },
  images: { title: () => t('images.navTitle'), roles: ALL_ROLES, screen: imagesScreen },
};

/** Who is signed in: the answer of GET /v1/me, or undefined. */
let me;
let current;

const $ = (id) => document.getElementById(id);

function routeOf() {
  const m = /^#\/([a-z]+)/.exec(location.hash);
  return m ? m[1] : '';
}

function defaultRoute() {
  return me.role === 'auditor' ? 'journal' : 'plan';
}

function showSession() {
  $('session').hidden = !me;
  $('nav').hidden = !me;
  if (!me) return;
  $('session-org').textContent = me.organisationName ?? me.organisationId;
  $('session-name').textContent = me.person && me.person !== me.name ? `${me.person} (${me.name})` : me.name;
  $('session-role').textContent = roleLabel(me.role);
  for (const a of document.querySelectorAll('#nav a[data-route]')) {
    const s = SCREENS[a.dataset.route];
    a.parentElement.hidden = !s.roles.includes(me.role);
  }
}

/** Shows one screen, hides the others, and moves the focus to its heading for screen readers. */
function render({ focus = true } = {}) {
  let route = routeOf();
  if (!me) route = 'connexion';
  else if (!SCREENS[route] || !SCREENS[route].roles.includes(me.role)) {
    const fallback = defaultRoute();
    if (route !== fallback) {
      // replaceState: the refused address does not stay in the history to come back to.
      history.replaceState(null, '', `#/${fallback}`);
      route = fallback;
    }
  }
  if (current && current !== route) SCREENS[current]?.screen.hide?.();
  for (const section of document.querySelectorAll('[data-screen]')) {
    section.hidden = section.dataset.screen !== route;
  }
  for (const a of document.querySelectorAll('#nav a[data-route]')) {
    if (a.dataset.route === route) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const title = route === 'connexion' ? t('signin.title') : SCREENS[route].title();
  document.title = t('app.screenTitle', { title });
  const changed = current !== route;
  current = route;
  // Messages belong to the screen they were said on.
  if (changed) clearMessages();
  if (route === 'connexion') {
    if (focus) $('token').focus();
    return;
  }
  if (focus && changed) $(`h-${route}`).focus();
  SCREENS[route].screen.show({ me, onUnauthorised });
  xStatus.show({ me, onUnauthorised });
  if (route === 'plan') followersChart.show({ me, onUnauthorised });
  if (route === 'plan') identityChecks.show({ me, onUnauthorised });
}

/** A token revoked while in use: back to the sign-in screen, saying why. */
function onUnauthorised(err) {
  xStatus.reset();
  followersChart.reset();
  identityChecks.reset();
  clearToken();
  me = undefined;
  showSession();
  render();
  showError(err, t('session.ended'));
}

async function signIn(token) {
  const who = await getJson('/v1/me', { token });
  setToken(token);
  me = who;
  showSession();
}

function signOut() {
  SCREENS[current]?.screen.hide?.();
  for (const s of Object.values(SCREENS)) s.screen.reset?.();
  xStatus.reset();
  followersChart.reset();
  identityChecks.reset();
  clearToken();
  me = undefined;
  showSession();
  history.replaceState(null, '', '#/connexion');
  render();
  announce(t('session.signedOut'));
}

/** The other language: the page's words, then the current screen drawn again; the focus stays on the switch. */
function switchLanguage(next) {
  setLanguage(next);
  translatePage();
  showSession();
  render({ focus: false });
}

function start() {
  translatePage();
  $('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('token');
    const token = input.value.trim();
    if (!token) {
      input.setAttribute('aria-invalid', 'true');
      showError(new ApiError(400, 'empty', t('signin.empty')), t('signin.context'));
      input.focus();
      return;
    }
    const button = event.submitter ?? event.target.querySelector('button');
    button.disabled = true;
    try {
      await signIn(token);
      input.value = '';
      input.removeAttribute('aria-invalid');
      // A bookmarked or shared address opens once signed in, when the role may see that screen.
      const asked = routeOf();
      const next = SCREENS[asked]?.roles.includes(me.role) ? asked : defaultRoute();
      // pushState, not location.hash: the hashchange event would come later and clear the message below.
      if (next !== asked) history.pushState(null, '', `#/${next}`);
      render();
      announce(
        t('session.signedIn', {
          organisation: me.organisationName ?? me.organisationId,
          role: roleLabel(me.role),
        }),
      );
    } catch (err) {
      input.setAttribute('aria-invalid', 'true');
      showError(err, t('signin.context'));
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  $('sign-out').addEventListener('click', signOut);
  for (const button of document.querySelectorAll('button[data-lang]'))
    button.addEventListener('click', () => switchLanguage(button.dataset.lang));
  window.addEventListener('hashchange', () => render());

  const saved = getToken();
  if (!saved) {
    render({ focus: false });
    return;
  }
  // A reload keeps the session of this tab: check that the token still works.
  signIn(saved)
    .then(() => render({ focus: false }))
    .catch((err) => {
      clearToken();
      render({ focus: false });
      showError(err, t('session.resume'));
    });
}

start();
