/*
 * A librdkafka transactional producer for the tests (kcat has no way to abort a transaction on purpose):
 *   rdkafka-txn BOOTSTRAP TOPIC TRANSACTIONAL_ID commit|abort COUNT PREFIX
 * init_transactions, begin_transaction, COUNT records "PREFIX-N" spread over the topic's partitions
 * (librdkafka's partitioner, keys "k-N"), flush (every record acknowledged), then commit_transaction or
 * abort_transaction. Prints "flushed N" and then "committed" or "aborted"; exits 1 on any error.
 * Built by the test with: cc -o rdkafka-txn rdkafka-txn.c -lrdkafka (Debian's librdkafka-dev).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail_error(const char *what, rd_kafka_error_t *error) {
  fprintf(stderr, "%s: %s\n", what, rd_kafka_error_string(error));
  rd_kafka_error_destroy(error);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: rdkafka-txn BOOTSTRAP TOPIC TRANSACTIONAL_ID commit|abort COUNT PREFIX\n");
    return 2;
  }
  const char *bootstrap = argv[1], *topic = argv[2], *transactional_id = argv[3], *mode = argv[4], *prefix = argv[6];
  int count = atoi(argv[5]);
  int commit = strcmp(mode, "commit") == 0;
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "transactional.id", transactional_id, errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "config: %s\n", errstr);
    return 1;
  }
  rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!producer) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_error_t *error = rd_kafka_init_transactions(producer, 30000);
  if (error) return fail_error("init_transactions", error);
  error = rd_kafka_begin_transaction(producer);
  if (error) return fail_error("begin_transaction", error);
  for (int n = 0; n < count; n++) {
    char key[64], value[256];
    snprintf(key, sizeof key, "k-%d", n);
    snprintf(value, sizeof value, "%s-%d", prefix, n);
    rd_kafka_resp_err_t err;
    for (int attempt = 0; attempt < 100; attempt++) {
      err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      rd_kafka_poll(producer, 100);
    }
    if (err) {
      fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
      return 1;
    }
  }
  rd_kafka_resp_err_t flushed = rd_kafka_flush(producer, 30000);
  if (flushed) {
    fprintf(stderr, "flush: %s\n", rd_kafka_err2str(flushed));
    return 1;
  }
  printf("flushed %d\n", count);
  fflush(stdout);
  error = commit ? rd_kafka_commit_transaction(producer, 30000) : rd_kafka_abort_transaction(producer, 30000);
  if (error) return fail_error(commit ? "commit_transaction" : "abort_transaction", error);
  printf("%s\n", commit ? "committed" : "aborted");
  rd_kafka_destroy(producer);
  return 0;
}
