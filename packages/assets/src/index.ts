export {
  PROFILE_IMAGE_SIZES,
  PROFILE_IMAGE_SLOTS,
  type ProfileImageSize,
  type ProfileImageSlot,
} from './sizes.ts';
export {
  renderProfileImage,
  renderPlanImages,
  plannedImages,
  whereToFind,
  imageFileName,
  type ProfileImageRequest,
  type RenderedImage,
} from './render.ts';
export { ImageTooLargeError } from './encode.ts';
export { DEFAULT_COLOUR } from './colour.ts';
export { findUsPolicy, renderFindUsPage, type FindUsPage } from './find-us.ts';
