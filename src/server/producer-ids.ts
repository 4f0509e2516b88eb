// Producer ids for InitProducerId (idempotent producers), handed out from blocks reserved in the
// metadata store so that an id is never reused after a restart.
import type { MetadataStore } from "../metadata/types.ts";

const PRODUCER_ID_BLOCK_SIZE = 1000;

export class ProducerIds {
  private next = 0;
  private blockEnd = 0;
  private reserving: Promise<void> | null = null;

  constructor(private readonly store: MetadataStore) {}

  async allocate(): Promise<number> {
    while (this.next >= this.blockEnd) {
      this.reserving ??= this.store.nextProducerIdBlock(PRODUCER_ID_BLOCK_SIZE).then((start) => {
        this.next = start;
        this.blockEnd = start + PRODUCER_ID_BLOCK_SIZE;
        this.reserving = null;
      });
      await this.reserving;
    }
    return this.next++;
  }
}
