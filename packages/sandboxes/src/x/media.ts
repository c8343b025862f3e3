/** Chunked media upload (initialize, append, finalize, status) and alt text, images only. */
import type { FastifyRequest } from 'fastify';
import { sniffImage } from './images.ts';
import { isUploadedFile, type Account, type Answer, type MediaRecord } from './model.ts';
import { asRecord, codePoints, invalidRequest } from './protocol.ts';
import type { XState } from './state.ts';

const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
const MAX_GIF_BYTES = 15 * 1024 * 1024;
const MAX_ALT = 1000;
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/pjpeg', 'image/gif', 'image/webp']);

function ownMedia(state: XState, account: Account, id: unknown): MediaRecord | Answer {
  const record = typeof id === 'string' ? state.media.get(id) : undefined;
  if (!record || record.accountId !== account.id) {
    return invalidRequest('The media was not found.', { media_id: [String(id)] });
  }
  return record;
}

export function initializeUpload(state: XState, req: FastifyRequest, account: Account): Answer {
  const body = asRecord(req.body);
  const mediaType = body?.media_type;
  const totalBytes = body?.total_bytes;
  if (typeof mediaType !== 'string' || !IMAGE_TYPES.has(mediaType)) {
    return invalidRequest('The media type is not supported by this sandbox (images only).', {
      media_type: [String(mediaType)],
    });
  }
  const limit = mediaType === 'image/gif' ? MAX_GIF_BYTES : MAX_IMAGE_BYTES;
  if (
    typeof totalBytes !== 'number' ||
    !Number.isInteger(totalBytes) ||
    totalBytes <= 0 ||
    totalBytes > limit
  ) {
    return invalidRequest(`File size exceeds ${limit} bytes.`, { total_bytes: [String(totalBytes)] });
  }
  const id = state.nextId();
  state.media.set(id, {
    id,
    mediaKey: `3_${id}`,
    accountId: account.id,
    mediaType,
    totalBytes,
    state: 'uploading',
    data: undefined,
    altText: undefined,
    width: undefined,
    height: undefined,
    chunks: new Map(),
    readyAt: 0,
  });
  return { status: 200, body: { data: { id, media_key: `3_${id}`, expires_after_secs: 86400 } } };
}

export function appendUpload(state: XState, req: FastifyRequest, account: Account): Answer {
  const record = ownMedia(state, account, asRecord(req.params)?.id);
  if (!('chunks' in record)) return record;
  const body = asRecord(req.body);
  const segment = Number(body?.segment_index);
  const chunk = body?.media;
  if (!Number.isInteger(segment) || segment < 0 || segment > 999) {
    return invalidRequest('`segment_index` must be between 0 and 999.', {
      segment_index: [String(body?.segment_index)],
    });
  }
  if (!isUploadedFile(chunk)) return invalidRequest('`media` is missing.', { media: [] });
  if (record.state !== 'uploading') return invalidRequest('The upload is already finalized.');
  record.chunks.set(segment, chunk.data);
  return { status: 200, body: { data: { expires_at: Math.floor(Date.now() / 1000) + 86400 } } };
}

export function finalizeUpload(state: XState, req: FastifyRequest, account: Account): Answer {
  const record = ownMedia(state, account, asRecord(req.params)?.id);
  if (!('chunks' in record)) return record;
  if (record.state !== 'uploading') return invalidRequest('The upload is already finalized.');
  const data = Buffer.concat([...record.chunks].sort(([a], [b]) => a - b).map(([, chunk]) => chunk));
  if (data.length !== record.totalBytes) {
    return invalidRequest('Segments do not add up to provided total file size.');
  }
  const sniffed = sniffImage(data);
  const declared = record.mediaType === 'image/pjpeg' ? 'image/jpeg' : record.mediaType;
  if (!sniffed || sniffed.mediaType !== declared) {
    record.state = 'failed';
    return invalidRequest('The media is not a valid image of the declared type.');
  }
  record.data = data;
  record.width = sniffed.width;
  record.height = sniffed.height;
  record.chunks.clear();
  const base = {
    id: record.id,
    media_key: record.mediaKey,
    size: data.length,
    expires_after_secs: 86400,
    ...(record.width !== undefined && record.height !== undefined
      ? { image: { image_type: record.mediaType, w: record.width, h: record.height } }
      : {}),
  };
  if (state.mediaProcessing === 'sync') {
    record.state = 'succeeded';
    return { status: 200, body: { data: base } };
  }
  record.state = 'in_progress';
  record.readyAt = Date.now() + 600;
  return {
    status: 200,
    body: { data: { ...base, processing_info: { state: 'pending', check_after_secs: 1 } } },
  };
}

export function uploadStatus(state: XState, req: FastifyRequest, account: Account): Answer {
  const query = asRecord(req.query);
  const record = ownMedia(state, account, query?.media_id);
  if (!('chunks' in record)) return record;
  if (record.state === 'in_progress' && Date.now() >= record.readyAt) record.state = 'succeeded';
  const info =
    record.state === 'succeeded'
      ? { state: 'succeeded', progress_percent: 100 }
      : record.state === 'failed'
        ? { state: 'failed' }
        : {
            state: record.state === 'uploading' ? 'pending' : 'in_progress',
            check_after_secs: 1,
            progress_percent: 50,
          };
  return {
    status: 200,
    body: { data: { id: record.id, media_key: record.mediaKey, processing_info: info } },
  };
}

export function mediaMetadata(state: XState, req: FastifyRequest, account: Account): Answer {
  const body = asRecord(req.body);
  const record = ownMedia(state, account, body?.id);
  if (!('chunks' in record)) return record;
  const alt = asRecord(asRecord(body?.metadata)?.alt_text)?.text;
  if (alt !== undefined) {
    if (typeof alt !== 'string' || codePoints(alt) > MAX_ALT) {
      return invalidRequest(`Alt text must be a string of at most ${MAX_ALT} characters.`, {
        'metadata.alt_text.text': [String(alt).slice(0, 40)],
      });
    }
    record.altText = alt;
  }
  return {
    status: 200,
    body: {
      data: { id: record.id, associated_metadata: alt === undefined ? {} : { alt_text: { text: alt } } },
    },
  };
}
