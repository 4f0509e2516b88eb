/*
 * A librdkafka producer that sends one batch and prints each record's delivery report, for the per-record
 * errors of Produce v8+ (KIP-467):
 *   rdkafka-record-errors BOOTSTRAP TOPIC RECORD...
 * Each RECORD is "key=value", or "-=value" for a record without a key. All go to partition 0 in one batch
 * (produced before the first flush, linger.ms 1000), then one line per record in record order:
 *   dr INDEX ERROR_NAME OFFSET ERROR_STRING
 * ERROR_NAME is rd_kafka_err2name ("NO_ERROR" when delivered). From librdkafka 2.4 the string is the
 * record's own (rd_kafka_message_produce_errstr), except for the records the broker named in record_errors:
 * librdkafka (2.4 to at least 2.15.1) points their string at the broker's batch_index_error_message inside the
 * Produce result, which rd_kafka_handle_Produce frees before the delivery report runs (rd_kafka_dr_msgq0 copies
 * the result into the report but the messages keep the original's pointers), so it is not read here: "-".
 * Exits 0 once every report came, 1 on a local failure.
 * Built by the test against Debian's librdkafka-dev (2.0.2) and, when present, the librdkafka 2.15 that
 * @confluentinc/kafka-javascript builds (scripts/install-kafka-javascript.sh).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORDS_MAX 64

static char reports[RECORDS_MAX][512];
static int reported = 0;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
  (void)rk;
  (void)opaque;
  long index = (long)message->_private;
  if (index < 0 || index >= RECORDS_MAX) return;
  const char *reason = "";
  if (message->err) {
#if RD_KAFKA_VERSION >= 0x020400ff
    reason = message->err == RD_KAFKA_RESP_ERR_INVALID_RECORD ? "-" : rd_kafka_message_produce_errstr(message);
#else
    reason = rd_kafka_message_errstr(message);
#endif
    if (!reason) reason = "";
  }
  snprintf(reports[index], sizeof reports[index], "dr %ld %s %lld %s", index, rd_kafka_err2name(message->err), (long long)message->offset, reason);
  reported++;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc - 3 > RECORDS_MAX) {
    fprintf(stderr, "usage: rdkafka-record-errors BOOTSTRAP TOPIC RECORD... (key=value, -=value without a key; at most %d)\n", RECORDS_MAX);
    return 2;
  }
  const char *bootstrap = argv[1], *topic = argv[2];
  int count = argc - 3;
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "linger.ms", "1000", errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "message.timeout.ms", "30000", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "config: %s\n", errstr);
    return 1;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!producer) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  /* The partition's leader known first: records queued before that may leave in a batch of their own. */
  rd_kafka_topic_t *topic_handle = rd_kafka_topic_new(producer, topic, NULL);
  const struct rd_kafka_metadata *metadata = NULL;
  rd_kafka_resp_err_t known = rd_kafka_metadata(producer, 0, topic_handle, &metadata, 30000);
  if (known || metadata->topic_cnt != 1 || metadata->topics[0].err || metadata->topics[0].partition_cnt < 1 || metadata->topics[0].partitions[0].leader < 0) {
    fprintf(stderr, "metadata for %s: %s\n", topic, rd_kafka_err2str(known ? known : metadata->topic_cnt == 1 ? metadata->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
    return 1;
  }
  rd_kafka_metadata_destroy(metadata);
  rd_kafka_topic_destroy(topic_handle);
  for (int n = 0; n < count; n++) {
    const char *record = argv[3 + n];
    const char *equals = strchr(record, '=');
    if (!equals) {
      fprintf(stderr, "record %d has no '=': %s\n", n, record);
      return 2;
    }
    size_t key_len = (size_t)(equals - record);
    int keyless = key_len == 1 && record[0] == '-';
    const char *value = equals + 1;
    /* The macro casts its argument: computed first. */
    const char *key = keyless ? NULL : record;
    if (keyless) key_len = 0;
    rd_kafka_resp_err_t err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key, key_len),
                                                RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)(long)n), RD_KAFKA_V_END);
    if (err) {
      fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
      return 1;
    }
  }
  rd_kafka_resp_err_t flushed = rd_kafka_flush(producer, 60000);
  if (flushed || reported != count) {
    fprintf(stderr, "flush: %s, %d of %d reports\n", rd_kafka_err2str(flushed), reported, count);
    return 1;
  }
  for (int n = 0; n < count; n++) printf("%s\n", reports[n]);
  printf("librdkafka %s\n", rd_kafka_version_str());
  rd_kafka_destroy(producer);
  return 0;
}
