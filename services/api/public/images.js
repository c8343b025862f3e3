// The dormant profile's generated images. They sit behind the bearer token, so an <img src>
// cannot load them: each is fetched with the token and shown as a data: URL, the one kind of
// in-page image the CSP admits (img-src 'self' data:; a blob: object URL would be refused).

import { request, getJson } from './api.js';
import { errorBlock, formatBytes, h, NETWORK_LABELS, replace, showError } from './dom.js';
import { label, num, t } from './i18n.js';

const slotLabel = (slot) => label(`images.slot-${slot}`, slot);

let ctx;
let loadSeq = 0;

const $ = (id) => document.getElementById(id);

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function figure(image, seq) {
  const slot = slotLabel(image.slot);
  const network = NETWORK_LABELS[image.network] ?? image.network;
  const caption = h(
    'figcaption',
    {},
    h('strong', {}, t('images.caption', { slot, network })),
    h(
      'span',
      { class: 'small' },
      t('images.details', {
        width: num(image.width),
        height: num(image.height),
        size: formatBytes(image.bytes),
        type: image.mediaType,
      }),
    ),
  );
  try {
    const res = await request(image.url);
    const url = await dataUrl(await res.blob());
    if (seq !== loadSeq) return null;
    return h(
      'figure',
      { class: `image image-${image.slot === 'avatar' ? 'avatar' : 'banner'}` },
      h('img', {
        src: url,
        alt: t('images.alt', { slot, network }),
        width: image.width,
        height: image.height,
      }),
      caption,
    );
  } catch (err) {
    if (err.name !== 'ApiError') throw err;
    return h('figure', { class: 'image' }, errorBlock(err, t('images.context', { slot, network })), caption);
  }
}

async function load() {
  const seq = ++loadSeq;
  const box = $('images-list');
  box.setAttribute('aria-busy', 'true');
  replace(box, h('p', {}, t('images.loading')));
  try {
    const { images } = await getJson('/v1/assets');
    if (seq !== loadSeq) return;
    if (!images.length) {
      replace(box, h('p', {}, t('images.none')));
      return;
    }
    const figures = await Promise.all(images.map((im) => figure(im, seq)));
    if (seq !== loadSeq) return;
    replace(box, figures);
  } catch (err) {
    if (seq !== loadSeq) return;
    if (err.status === 401) return ctx.onUnauthorised(err);
    if (err.status === 404) {
      replace(box, h('p', {}, t('images.noPlan')));
      return;
    }
    replace(box);
    showError(err, t('images.navTitle'));
  } finally {
    if (seq === loadSeq) box.removeAttribute('aria-busy');
  }
}

export const imagesScreen = {
  show(context) {
    ctx = context;
    void load();
  },
  hide() {
    // A load still under way is dropped, and the images' memory is given back with the nodes.
    loadSeq += 1;
    replace($('images-list'));
  },
  reset() {
    loadSeq += 1;
    replace($('images-list'));
  },
};
