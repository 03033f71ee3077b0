/* -*- test-case-name: tests.worker.test_languages -*-
 *
 * echo.c: the echo app as a plain executable, in C with nothing but libc.
 *
 * It speaks the Cocaine worker protocol (PROTOCOL.md section 6) over the
 * UNIX socket given as --endpoint, with a tiny msgpack encoder and decoder
 * for exactly the shapes it needs:
 *
 *   W->R  [1, 0, [uuid]]                 handshake
 *   W->R  [1, 0, []]                     heartbeat, every
 *                                        COCAINE_HEARTBEAT_INTERVAL s (10)
 *   R->W  [1, 0, []]                     heartbeat answer; none within
 *                                        COCAINE_DISOWN_TIMEOUT s (30):
 *                                        "disowned", exit 1
 *   R->W  [1, 1, [code, reason]]         terminate: echoed as is, exit 0
 *   R->W  [ch, 0, ["echo"]]              every chunk [ch, 0, [data]] is
 *                                        written back; [ch, 2, []] closes
 *   R->W  [ch, 0, ["ping"]]              answered "pong", then close
 *   R->W  [ch, 0, [other]]               [ch, 1, [[42, 200],
 *                                        "no handler for event 'other'"]]
 *
 * The runtime closing the connection makes it exit with status 1.
 *
 * Build: make (cc -O2 -Wall -o echo echo.c)
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONTROL 1
#define FRAMEWORK_CATEGORY 42
#define UNCAUGHT_EXCEPTION 100
#define NO_HANDLER 200
#define MAX_BUFFER (128u * 1024u * 1024u)
#define MAX_DEPTH 64

/* ---- logging -------------------------------------------------------- */

static const char *app_name = "echo-c";

static void logf_(const char *format, ...)
{
    char line[1024];
    va_list args;
    int n = snprintf(line, sizeof line, "echo-c %s %ld: ", app_name,
                     (long)getpid());
    va_start(args, format);
    vsnprintf(line + n, sizeof line - (size_t)n, format, args);
    va_end(args);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void die(const char *what)
{
    logf_("%s: out of memory", what);
    exit(1);
}

/* ---- output: a growable buffer and a msgpack encoder ---------------- */

typedef struct {
    unsigned char *data;
    size_t len, cap;
} buffer_t;

static void reserve(buffer_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *data = realloc(b->data, cap);
    if (!data)
        die("reserve");
    b->data = data;
    b->cap = cap;
}

static void put(buffer_t *b, const void *data, size_t n)
{
    reserve(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void put_byte(buffer_t *b, unsigned value)
{
    unsigned char c = (unsigned char)value;
    put(b, &c, 1);
}

static void put_be(buffer_t *b, uint64_t value, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        put_byte(b, (unsigned)(value >> (8 * i)) & 0xff);
}

static void pack_uint(buffer_t *b, uint64_t value)
{
    if (value < 0x80) {
        put_byte(b, (unsigned)value);
    } else if (value <= 0xff) {
        put_byte(b, 0xcc); put_be(b, value, 1);
    } else if (value <= 0xffff) {
        put_byte(b, 0xcd); put_be(b, value, 2);
    } else if (value <= 0xffffffffu) {
        put_byte(b, 0xce); put_be(b, value, 4);
    } else {
        put_byte(b, 0xcf); put_be(b, value, 8);
    }
}

static void pack_array(buffer_t *b, uint32_t n)
{
    if (n < 16) {
        put_byte(b, 0x90 | n);
    } else if (n <= 0xffff) {
        put_byte(b, 0xdc); put_be(b, n, 2);
    } else {
        put_byte(b, 0xdd); put_be(b, n, 4);
    }
}

static void pack_str(buffer_t *b, const char *s, size_t n)
{
    if (n < 32) {
        put_byte(b, 0xa0 | (unsigned)n);
    } else if (n <= 0xff) {
        put_byte(b, 0xd9); put_be(b, n, 1);
    } else if (n <= 0xffff) {
        put_byte(b, 0xda); put_be(b, n, 2);
    } else {
        put_byte(b, 0xdb); put_be(b, n, 4);
    }
    put(b, s, n);
}

static void pack_bin(buffer_t *b, const void *data, size_t n)
{
    if (n <= 0xff) {
        put_byte(b, 0xc4); put_be(b, n, 1);
    } else if (n <= 0xffff) {
        put_byte(b, 0xc5); put_be(b, n, 2);
    } else {
        put_byte(b, 0xc6); put_be(b, n, 4);
    }
    put(b, data, n);
}

/* ---- input: a msgpack decoder over a complete or partial buffer ----- */

enum { OK = 0, NEED_MORE = -1, BAD = -2, WRONG_TYPE = -3 };

typedef struct {
    const unsigned char *p, *end;
} cursor_t;

static uint64_t get_be(const unsigned char *p, int bytes)
{
    uint64_t value = 0;
    for (int i = 0; i < bytes; i++)
        value = (value << 8) | p[i];
    return value;
}

/* Skip n bytes after a header of h bytes. */
static int advance(cursor_t *c, size_t h, uint64_t n)
{
    if ((size_t)(c->end - c->p) < h)
        return NEED_MORE;
    if ((uint64_t)(c->end - c->p - h) < n)
        return NEED_MORE;
    c->p += h + n;
    return OK;
}

/* Skip one whole value: NEED_MORE if it is not complete yet, BAD if the
 * bytes are not msgpack. */
static int skip(cursor_t *c, int depth)
{
    if (depth > MAX_DEPTH)
        return BAD;
    if (c->p >= c->end)
        return NEED_MORE;
    unsigned b = *c->p;
    uint64_t items = 0;
    int r;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return advance(c, 1, 0);
    if ((b & 0xf0) == 0x80 || (b & 0xf0) == 0x90) {
        items = (uint64_t)(b & 0x0f) * ((b & 0xf0) == 0x80 ? 2 : 1);
        c->p += 1;
    } else if ((b & 0xe0) == 0xa0) {
        return advance(c, 1, b & 0x1f);
    } else {
        const unsigned char *p = c->p;
        size_t avail = (size_t)(c->end - p);
        switch (b) {
        case 0xc4: case 0xd9:                 /* bin8, str8 */
            if (avail < 2) return NEED_MORE;
            return advance(c, 2, p[1]);
        case 0xc5: case 0xda:                 /* bin16, str16 */
            if (avail < 3) return NEED_MORE;
            return advance(c, 3, get_be(p + 1, 2));
        case 0xc6: case 0xdb:                 /* bin32, str32 */
            if (avail < 5) return NEED_MORE;
            return advance(c, 5, get_be(p + 1, 4));
        case 0xc7:                            /* ext8 */
            if (avail < 2) return NEED_MORE;
            return advance(c, 3, p[1]);
        case 0xc8:                            /* ext16 */
            if (avail < 3) return NEED_MORE;
            return advance(c, 4, get_be(p + 1, 2));
        case 0xc9:                            /* ext32 */
            if (avail < 5) return NEED_MORE;
            return advance(c, 6, get_be(p + 1, 4));
        case 0xca: return advance(c, 1, 4);   /* float32 */
        case 0xcb: return advance(c, 1, 8);   /* float64 */
        case 0xcc: case 0xd0: return advance(c, 1, 1);
        case 0xcd: case 0xd1: return advance(c, 1, 2);
        case 0xce: case 0xd2: return advance(c, 1, 4);
        case 0xcf: case 0xd3: return advance(c, 1, 8);
        case 0xd4: return advance(c, 2, 1);   /* fixext 1..16 */
        case 0xd5: return advance(c, 2, 2);
        case 0xd6: return advance(c, 2, 4);
        case 0xd7: return advance(c, 2, 8);
        case 0xd8: return advance(c, 2, 16);
        case 0xdc: case 0xde:                 /* array16, map16 */
            if (avail < 3) return NEED_MORE;
            items = get_be(p + 1, 2) * (b == 0xde ? 2 : 1);
            c->p += 3;
            break;
        case 0xdd: case 0xdf:                 /* array32, map32 */
            if (avail < 5) return NEED_MORE;
            items = get_be(p + 1, 4) * (b == 0xdf ? 2 : 1);
            c->p += 5;
            break;
        default:                              /* 0xc1: never used */
            return BAD;
        }
    }
    for (uint64_t i = 0; i < items; i++)
        if ((r = skip(c, depth + 1)) != OK)
            return r;
    return OK;
}

/* The readers below work on a complete message (so never NEED_MORE). */

static int read_uint(cursor_t *c, uint64_t *value)
{
    if (c->p >= c->end)
        return BAD;
    unsigned b = *c->p;
    int bytes;
    if (b <= 0x7f) {
        *value = b;
        c->p += 1;
        return OK;
    }
    switch (b) {
    case 0xcc: bytes = 1; break;
    case 0xcd: bytes = 2; break;
    case 0xce: bytes = 4; break;
    case 0xcf: bytes = 8; break;
    default: return WRONG_TYPE;
    }
    if (c->end - c->p < 1 + bytes)
        return BAD;
    *value = get_be(c->p + 1, bytes);
    c->p += 1 + bytes;
    return OK;
}

static int read_array(cursor_t *c, uint32_t *n)
{
    if (c->p >= c->end)
        return BAD;
    unsigned b = *c->p;
    if ((b & 0xf0) == 0x90) {
        *n = b & 0x0f;
        c->p += 1;
    } else if (b == 0xdc && c->end - c->p >= 3) {
        *n = (uint32_t)get_be(c->p + 1, 2);
        c->p += 3;
    } else if (b == 0xdd && c->end - c->p >= 5) {
        *n = (uint32_t)get_be(c->p + 1, 4);
        c->p += 5;
    } else {
        return WRONG_TYPE;
    }
    return OK;
}

/* A str or a bin: both are bytes to us. */
static int read_blob(cursor_t *c, const unsigned char **data, size_t *n)
{
    if (c->p >= c->end)
        return BAD;
    unsigned b = *c->p;
    size_t h;
    uint64_t len;
    size_t avail = (size_t)(c->end - c->p);
    if ((b & 0xe0) == 0xa0) {
        h = 1; len = b & 0x1f;
    } else if ((b == 0xc4 || b == 0xd9) && avail >= 2) {
        h = 2; len = c->p[1];
    } else if ((b == 0xc5 || b == 0xda) && avail >= 3) {
        h = 3; len = get_be(c->p + 1, 2);
    } else if ((b == 0xc6 || b == 0xdb) && avail >= 5) {
        h = 5; len = get_be(c->p + 1, 4);
    } else {
        return WRONG_TYPE;
    }
    if (avail - h < len)
        return BAD;
    *data = c->p + h;
    *n = (size_t)len;
    c->p += h + len;
    return OK;
}

/* ---- the worker ------------------------------------------------------ */

static int fd = -1;
static uint64_t max_channel = CONTROL;
static uint64_t *sessions;           /* open echo sessions */
static size_t session_count, session_cap;
static buffer_t out;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void flush_out(void)
{
    size_t done = 0;
    while (done < out.len) {
        ssize_t n = send(fd, out.data + done, out.len - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            logf_("connection to the runtime lost (%s); exiting",
                  strerror(errno));
            exit(1);
        }
        done += (size_t)n;
    }
    out.len = 0;
}

/* Start [channel, type, [ ... with nargs arguments to follow. */
static void begin(uint64_t channel, unsigned type, uint32_t nargs)
{
    pack_array(&out, 3);
    pack_uint(&out, channel);
    pack_uint(&out, type);
    pack_array(&out, nargs);
}

static void send_error(uint64_t channel, unsigned category, unsigned code,
                       const char *message, size_t n)
{
    begin(channel, 1, 2);
    pack_array(&out, 2);
    pack_uint(&out, category);
    pack_uint(&out, code);
    pack_str(&out, message, n);
}

static long find_session(uint64_t channel)
{
    for (size_t i = 0; i < session_count; i++)
        if (sessions[i] == channel)
            return (long)i;
    return -1;
}

static void add_session(uint64_t channel)
{
    if (session_count == session_cap) {
        session_cap = session_cap ? session_cap * 2 : 16;
        sessions = realloc(sessions, session_cap * sizeof *sessions);
        if (!sessions)
            die("add_session");
    }
    sessions[session_count++] = channel;
}

static void remove_session(long index)
{
    sessions[index] = sessions[--session_count];
}

static int disown_armed;
static double disown_deadline;
static double disown_timeout = 30;

/* Handle one complete message of n bytes. */
static void handle(const unsigned char *message, size_t n)
{
    cursor_t c = { message, message + n };
    uint32_t count, nargs;
    uint64_t channel, type;
    const unsigned char *data;
    size_t size;

    if (read_array(&c, &count) != OK || count < 3
            || read_uint(&c, &channel) != OK || read_uint(&c, &type) != OK
            || read_array(&c, &nargs) != OK) {
        logf_("ignoring a malformed message of %zu bytes", n);
        return;
    }
    if (channel == CONTROL) {
        if (type == 0) {
            disown_armed = 0;
        } else if (type == 1) {
            /* Echo the arguments exactly as they came. */
            const unsigned char *args = c.p;
            for (uint32_t i = 0; i < nargs; i++)
                if (skip(&c, 0) != OK) {
                    logf_("ignoring a malformed terminate");
                    return;
                }
            begin(CONTROL, 1, nargs);
            put(&out, args, (size_t)(c.p - args));
            flush_out();
            logf_("terminate requested by the runtime; exiting");
            close(fd);
            exit(0);
        }
        return;
    }
    long session = find_session(channel);
    if (session >= 0) {
        if (type == 0) {
            if (nargs < 1 || read_blob(&c, &data, &size) != OK) {
                logf_("ignoring a chunk that is not bytes on channel %llu",
                      (unsigned long long)channel);
                return;
            }
            begin(channel, 0, 1);
            pack_bin(&out, data, size);
        } else if (type == 2) {
            begin(channel, 2, 0);
            remove_session(session);
        } else if (type == 1) {
            uint32_t pair;
            uint64_t category = 0, code = 0;
            const unsigned char *reason = (const unsigned char *)"";
            size_t reason_size = 0;
            if (nargs >= 1 && read_array(&c, &pair) == OK && pair == 2
                    && read_uint(&c, &category) == OK
                    && read_uint(&c, &code) == OK && nargs >= 2)
                read_blob(&c, &reason, &reason_size);
            char text[512];
            int len = snprintf(text, sizeof text,
                               "RequestError: [%llu, %llu] %.*s",
                               (unsigned long long)category,
                               (unsigned long long)code,
                               (int)(reason_size > 400 ? 400 : reason_size),
                               (const char *)reason);
            send_error(channel, FRAMEWORK_CATEGORY, UNCAUGHT_EXCEPTION,
                       text, (size_t)len);
            remove_session(session);
        }
        return;
    }
    if (channel <= max_channel)
        return;                         /* a finished session */
    if (type != 0) {
        logf_("ignoring type %llu on new channel %llu",
              (unsigned long long)type, (unsigned long long)channel);
        return;
    }
    max_channel = channel;
    data = (const unsigned char *)"";
    size = 0;
    if (nargs >= 1)
        read_blob(&c, &data, &size);
    if (size == 4 && memcmp(data, "echo", 4) == 0) {
        add_session(channel);
    } else if (size == 4 && memcmp(data, "ping", 4) == 0) {
        begin(channel, 0, 1);
        pack_bin(&out, "pong", 4);
        begin(channel, 2, 0);
    } else {
        size_t shown = size > 200 ? 200 : size;
        char text[256];
        int len = snprintf(text, sizeof text, "no handler for event '%.*s'",
                           (int)shown, (const char *)data);
        logf_("%s", text);
        send_error(channel, FRAMEWORK_CATEGORY, NO_HANDLER, text,
                   (size_t)len);
    }
}

static double seconds(const char *name, double fallback)
{
    const char *value = getenv(name);
    if (!value || !*value)
        return fallback;
    char *end;
    double number = strtod(value, &end);
    return (*end == '\0' && number > 0) ? number : fallback;
}

static const char *argument(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], name, n) != 0)
            continue;
        if (argv[i][n] == '=')
            return argv[i] + n + 1;
        if (argv[i][n] == '\0' && i + 1 < argc)
            return argv[i + 1];
    }
    return NULL;
}

static void heartbeat(void)
{
    begin(CONTROL, 0, 0);
    flush_out();
    if (!disown_armed) {
        disown_armed = 1;
        disown_deadline = now() + disown_timeout;
    }
}

int main(int argc, char **argv)
{
    const char *endpoint = argument(argc, argv, "--endpoint");
    const char *uuid = argument(argc, argv, "--uuid");
    const char *app = argument(argc, argv, "--app");
    double interval = seconds("COCAINE_HEARTBEAT_INTERVAL", 10);

    disown_timeout = seconds("COCAINE_DISOWN_TIMEOUT", 30);

    if (app)
        app_name = app;
    if (!endpoint || !uuid) {
        fprintf(stderr, "usage: %s --app NAME --endpoint PATH --locator "
                "HOST:PORT --protocol 1 --uuid UUID\n", argv[0]);
        return 2;
    }
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(endpoint) >= sizeof address.sun_path) {
        logf_("endpoint path too long: %s", endpoint);
        return 1;
    }
    strcpy(address.sun_path, endpoint);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address,
                          sizeof address) < 0) {
        logf_("cannot connect to the runtime at %s: %s", endpoint,
              strerror(errno));
        return 1;
    }

    begin(CONTROL, 0, 1);
    pack_str(&out, uuid, strlen(uuid));
    heartbeat();
    logf_("connected to %s, handshake sent", endpoint);
    double next_heartbeat = now() + interval;

    buffer_t in = { 0 };
    for (;;) {
        double t = now();
        double wake = next_heartbeat;
        if (disown_armed && disown_deadline < wake)
            wake = disown_deadline;
        int timeout = wake > t ? (int)((wake - t) * 1000) + 1 : 0;
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll(&p, 1, timeout);
        if (ready < 0 && errno != EINTR) {
            logf_("poll: %s", strerror(errno));
            return 1;
        }
        t = now();
        if (disown_armed && t >= disown_deadline) {
            logf_("disowned: no heartbeat answer from the runtime in %g s; "
                  "exiting", disown_timeout);
            return 1;
        }
        if (t >= next_heartbeat) {
            heartbeat();
            next_heartbeat = t + interval;
        }
        if (ready <= 0)
            continue;
        reserve(&in, 65536);
        ssize_t n = read(fd, in.data + in.len, in.cap - in.len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            logf_("connection to the runtime lost; exiting");
            return 1;
        }
        in.len += (size_t)n;
        size_t used = 0;
        while (used < in.len) {
            cursor_t c = { in.data + used, in.data + in.len };
            int r = skip(&c, 0);
            if (r == NEED_MORE)
                break;
            if (r != OK) {
                logf_("broken stream from the runtime; exiting");
                return 1;
            }
            size_t size = (size_t)(c.p - (in.data + used));
            handle(in.data + used, size);
            used += size;
        }
        flush_out();
        if (used) {
            memmove(in.data, in.data + used, in.len - used);
            in.len -= used;
        }
        if (in.len > MAX_BUFFER) {
            logf_("a frame from the runtime is over the size limit; exiting");
            return 1;
        }
    }
}
