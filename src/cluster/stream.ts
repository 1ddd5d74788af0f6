/** The cluster's one stream: found, or made with the daemon's settings. */
import type { NatsConnection, NatsError, StreamInfo } from 'nats';
import type { Logger } from '../log.js';
import type { ClusterSettings } from './subjects.js';

/** JetStream's error code for "stream not found". */
export const STREAM_NOT_FOUND = 10059;

/**
 * Returns the stream's info, making the stream first if it is missing.
 * Two daemons making it at once make one stream: JetStream takes the same
 * configuration twice.
 */
export async function ensureStream(nc: NatsConnection, settings: ClusterSettings, logger: Logger): Promise<StreamInfo> {
  const { DiscardPolicy, RetentionPolicy, StorageType } = await import('nats');
  const jsm = await nc.jetstreamManager();
  const subjects = `${settings.stream}.>`;
  try {
    const info = await jsm.streams.info(settings.stream);
    if (!info.config.subjects.includes(subjects)) {
      logger.log('warn', `cluster: stream ${settings.stream} has subjects ${info.config.subjects.join(',')}, not ${subjects}; sends to topics outside them will fail`);
    }
    return info;
  } catch (error) {
    if ((error as NatsError).api_error?.err_code !== STREAM_NOT_FOUND) throw error;
  }
  const info = await jsm.streams.add({
    name: settings.stream,
    subjects: [subjects],
    num_replicas: settings.replicas,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
  });
  logger.log('notice', `cluster: made stream ${settings.stream} (subjects ${subjects}, ${settings.replicas} replicas)`);
  return info;
}
