/** Where the bench and its baseline processes meet: queue names under the baseline's own Redis prefix. */
export const RAW_QUEUES = { x: 'raw-x', mastodon: 'raw-mastodon' } as const;

/** A baseline job: the text its connector publishes. */
export interface RawJob {
  text: string;
}
