// A section of the plan screen filled from one API read (followers, identity checks): the newest
// read wins, and a sign-out or another screen drops whatever answer is still on its way.
import { getJson } from './api.js';
import { showError } from './dom.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

/** `id` names the section; its body is `${id}-body`; `render` gets the API's answer. */
export function planSection({ path, id, titleKey, render }) {
  let ctx;
  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    try {
      const answer = await getJson(path);
      if (mine === seq && ctx) render(answer);
    } catch (err) {
      if (mine !== seq || !ctx) return;
      if (err?.status === 401) ctx.onUnauthorised(err);
      else showError(err, t(titleKey));
    }
  }
  return {
    show(context) {
      ctx = context;
      void refresh();
    },
    reset() {
      ctx = undefined;
      seq++;
      $(id).hidden = true;
      $(`${id}-body`).replaceChildren();
    },
  };
}
