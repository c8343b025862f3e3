// The dashboard's shell: the session (sign in / out), the navigation between screens by the
// URL hash (so the browser's back button and bookmarks work without any server routing), and
// which screens each role may see. Each screen lives in its own module.

import { ApiError, clearToken, getJson, getToken, setToken } from './api.js';
import { auditScreen } from './audit.js';
import { composeScreen } from './compose.js';
import { followersChart } from './followers.js';
import { identityChecks } from './identity.js';
import { t, translatePage } from './i18n.js';
import { approvalsScreen, queueScreen } from './queue.js';
import { crisisScreen } from './crisis.js';
import { announce, clearMessages, ROLE_LABELS, showError } from './dom.js';
import { imagesScreen } from './images.js';
import { timelineScreen } from './timeline.js';
import { xStatus } from './xstatus.js';

const ALL_ROLES = ['admin', 'planner', 'editor', 'crisis', 'auditor'];

// The API's own role checks decide; this only keeps people away from screens that would refuse them.
const SCREENS = {
  plan: { title: 'Calendrier du plan', roles: ALL_ROLES, screen: timelineScreen },
  rediger: { title: () => t('compose.title'), roles: ['admin', 'editor'], screen: composeScreen },
  file: { title: () => t('queue.title'), roles: ALL_ROLES, screen: queueScreen },
  approbations: { title: () => t('approvals.title'), roles: ['admin', 'editor'], screen: approvalsScreen },
  crise: { title: 'Crise', roles: ALL_ROLES, screen: crisisScreen },
  journal: { title: "Journal d'audit", roles: ['admin', 'auditor'], screen: auditScreen },
  images: { title: 'Images du profil', roles: ALL_ROLES, screen: imagesScreen },
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
  $('session-role').textContent = ROLE_LABELS[me.role] ?? me.role;
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
  const named = route === 'connexion' ? 'Connexion' : SCREENS[route].title;
  const title = typeof named === 'function' ? named() : named;
  document.title = `${title} — sunset`;
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
  showError(err, 'Session terminée');
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
  announce('Vous êtes déconnecté. Le jeton a été effacé de cet onglet.');
}

function start() {
  translatePage();
  $('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('token');
    const token = input.value.trim();
    if (!token) {
      input.setAttribute('aria-invalid', 'true');
      showError(new ApiError(400, 'empty', 'aucun jeton saisi'), 'Connexion');
      input.focus();
      return;
    }
    const button = event.submitter ?? event.target.querySelector('button');
    button.disabled = true;
    try {
      await signIn(token);
      input.value = '';
      input.removeAttribute('aria-invalid');
      // pushState, not location.hash: the hashchange event would come later and clear the message below.
      history.pushState(null, '', `#/${defaultRoute()}`);
      render();
      announce(
        `Connecté : ${me.organisationName ?? me.organisationId}, rôle ${ROLE_LABELS[me.role] ?? me.role}.`,
      );
    } catch (err) {
      input.setAttribute('aria-invalid', 'true');
      showError(err, 'Connexion');
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  $('sign-out').addEventListener('click', signOut);
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
      showError(err, 'Reprise de la session');
    });
}

start();
