/*
 * TEST PEER ONLY: a DTLS PSK client on the system's Mbed TLS 2.28 (Debian
 * libmbedtls-dev), compiled by tests/interop_mbedtls2.rs at test time.
 *
 * Mbed TLS 2.x writes its configured MINIMUM version in the record header
 * of the initial ClientHello (ssl_cli.c sets ssl->minor_ver from
 * conf->min_minor_ver before writing it). Its DTLS default minimum is
 * DTLS 1.0 ({254, 255}); clients that lower the minimum to "any version",
 * as avs_commons/Anjay does for its default setting
 * (mbedtls_ssl_conf_min_version(3, 0)), put {254, 0} there. The test asks
 * for both; the handshake's client_version is the maximum.
 *
 * usage: mbedtls2_client HOST PORT IDENTITY PSK_HEX SUITES_HEX MIN_MINOR MAX_MINOR
 *   SUITES_HEX: comma-separated IANA ids, e.g. c0a4,008c
 *   MIN_MINOR:  -1 = Mbed TLS's default minimum, 0 = "any" (record {254, 0})
 *   MAX_MINOR:  3 = up to DTLS 1.2 (default behaviour),
 *               2 = DTLS 1.0 only (to provoke protocol_version)
 * It sends one CoAP CON GET /hello and prints the response payload as
 * "PAYLOAD <text>"; "HANDSHAKE-FAILED -0x..." if the handshake fails.
 * Exit status 0 only when a response came back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/timing.h>

static int hex_nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT IDENTITY PSK_HEX SUITES_HEX MIN_MINOR MAX_MINOR\n",
                argv[0]);
        return 2;
    }
    const char *host = argv[1], *port = argv[2], *identity = argv[3];
    unsigned char psk[64];
    size_t psk_len = strlen(argv[4]) / 2;
    if (psk_len > sizeof psk) return 2;
    for (size_t i = 0; i < psk_len; i++) {
        int hi = hex_nibble(argv[4][2 * i]), lo = hex_nibble(argv[4][2 * i + 1]);
        if (hi < 0 || lo < 0) return 2;
        psk[i] = (unsigned char)(hi << 4 | lo);
    }
    int suites[16];
    size_t n_suites = 0;
    for (char *tok = strtok(argv[5], ","); tok && n_suites < 15; tok = strtok(NULL, ","))
        suites[n_suites++] = (int)strtol(tok, NULL, 16);
    suites[n_suites] = 0;
    int min_minor = atoi(argv[6]);
    int max_minor = atoi(argv[7]);

    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_timing_delay_context timer;
    mbedtls_net_init(&net);
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);

    int ret;
    char err[128];
    if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0)) != 0 ||
        (ret = mbedtls_net_connect(&net, host, port, MBEDTLS_NET_PROTO_UDP)) != 0 ||
        (ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
                                           MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        printf("SETUP-FAILED -0x%04x\n", (unsigned)-ret);
        return 1;
    }
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_ciphersuites(&conf, suites);
    mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, max_minor);
    if (min_minor >= 0)
        mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, min_minor);
    mbedtls_ssl_conf_handshake_timeout(&conf, 200, 4000);
    if ((ret = mbedtls_ssl_conf_psk(&conf, psk, psk_len, (const unsigned char *)identity,
                                    strlen(identity))) != 0 ||
        (ret = mbedtls_ssl_setup(&ssl, &conf)) != 0) {
        printf("SETUP-FAILED -0x%04x\n", (unsigned)-ret);
        return 1;
    }
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, mbedtls_net_recv_timeout);
    mbedtls_ssl_set_timer_cb(&ssl, &timer, mbedtls_timing_set_delay, mbedtls_timing_get_delay);
    mbedtls_ssl_conf_read_timeout(&conf, 4000);

    while ((ret = mbedtls_ssl_handshake(&ssl)) != 0) {
        if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE) {
            mbedtls_strerror(ret, err, sizeof err);
            printf("HANDSHAKE-FAILED -0x%04x %s\n", (unsigned)-ret, err);
            fflush(stdout);
            return 1;
        }
    }
    printf("SUITE %s\n", mbedtls_ssl_get_ciphersuite(&ssl));

    /* CON GET /hello, message id 0x2a2a, no token. */
    const unsigned char get_hello[] = {0x40, 0x01, 0x2a, 0x2a, 0xB5, 'h', 'e', 'l', 'l', 'o'};
    do {
        ret = mbedtls_ssl_write(&ssl, get_hello, sizeof get_hello);
    } while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);
    if (ret < 0) {
        printf("WRITE-FAILED -0x%04x\n", (unsigned)-ret);
        return 1;
    }
    unsigned char buf[1500];
    do {
        ret = mbedtls_ssl_read(&ssl, buf, sizeof buf);
    } while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);
    if (ret <= 0) {
        printf("READ-FAILED -0x%04x\n", (unsigned)-ret);
        return 1;
    }
    /* The payload follows the 0xFF marker. */
    for (int i = 0; i < ret; i++) {
        if (buf[i] == 0xFF) {
            printf("PAYLOAD %.*s\n", ret - i - 1, (const char *)buf + i + 1);
            break;
        }
    }
    mbedtls_ssl_close_notify(&ssl);
    mbedtls_net_free(&net);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return 0;
}
