// Kafka's partition.metadata (PartitionMetadataFile, KIP-516): the id of the topic a partition directory
// belongs to. Directories are named <topic>-<partition>, so a directory left by a deleted topic looks like one of
// a re-created topic of the same name; the id tells them apart. Format, as Kafka writes it:
//   version: 0
//   topic_id: <the topic id in base64url without padding>
import path from "node:path";
import { fsyncDirectoryWith, nodeFileSystem, OPEN_CREATE, OPEN_TRUNCATE, OPEN_WRITE_ONLY, readTextFileOrNull, type FileSystem } from "./file-system.ts";

export const PARTITION_METADATA_FILE = "partition.metadata";
/** A partition.metadata bigger than this is not Kafka's (two short lines): read as unreadable, never allocated. */
const PARTITION_METADATA_MAX_BYTES = 256;

/** The topic id a directory's partition.metadata names, null when there is none, "" when it is unreadable. */
export function readPartitionTopicId(dir: string, files: FileSystem = nodeFileSystem): string | null {
  const filePath = path.join(dir, PARTITION_METADATA_FILE);
  if (!files.exists(filePath)) return null;
  if (files.stat(filePath).size > PARTITION_METADATA_MAX_BYTES) return "";
  const text = readTextFileOrNull(files, filePath);
  if (text === null) return null;
  const lines = text.split("\n");
  if (lines[0]?.trim() !== "version: 0") return "";
  const match = /^topic_id: ?([A-Za-z0-9_-]{22})$/.exec(lines[1]?.trim() ?? "");
  return match ? match[1]! : "";
}

/** Writes the file durably (temporary file, fsync, rename, directory fsync), as Kafka does. */
export function writePartitionMetadata(dir: string, topicId: string, files: FileSystem = nodeFileSystem): void {
  const filePath = path.join(dir, PARTITION_METADATA_FILE);
  const temporary = `${filePath}.tmp`;
  const bytes = new TextEncoder().encode(`version: 0\ntopic_id: ${topicId}\n`);
  const fd = files.open(temporary, OPEN_WRITE_ONLY | OPEN_CREATE | OPEN_TRUNCATE);
  try {
    let written = 0;
    while (written < bytes.length) {
      const count = files.write(fd, bytes, written, bytes.length - written, written);
      if (count <= 0) throw new Error(`${temporary}: short write`);
      written += count;
    }
    files.fsync(fd);
  } finally {
    files.close(fd);
  }
  files.rename(temporary, filePath);
  fsyncDirectoryWith(files, dir);
}

/**
 * Before a partition's log is opened: a directory whose partition.metadata names another topic id was left
 * by an earlier topic of the same name (deleted while this broker was down, or a follower's copy of it); its
 * data is not this topic's, so it is removed, as Kafka's LogManager drops stray logs. The directory then gets
 * this topic's id (also a directory written before topic ids, which has no file yet).
 * Returns what happened, for the broker log, or null when the directory was already this topic's.
 */
export function claimPartitionDirectory(dir: string, topicId: string, files: FileSystem = nodeFileSystem): string | null {
  const found = files.exists(dir) ? readPartitionTopicId(dir, files) : null;
  if (found === topicId) return null;
  // Unreadable (not written by us: every write is a rename of a synced file): whose data this is cannot be
  // told, so nothing is deleted; the partition stays offline until an operator looks, as in Kafka.
  if (found === "") throw new Error(`${path.join(dir, PARTITION_METADATA_FILE)} is not a readable partition.metadata file`);
  let event: string | null = null;
  if (found !== null) {
    files.removeTree(dir);
    event = `removed ${dir}: it held topic id ${found}, a deleted topic of the same name (this topic is ${topicId})`;
  }
  files.mkdir(dir);
  writePartitionMetadata(dir, topicId, files);
  return event;
}
