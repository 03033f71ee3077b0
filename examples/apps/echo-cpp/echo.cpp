// -*- test-case-name: tests.worker.test_languages -*-
//
// echo.cpp: the echo app as a C++ executable on msgpack-c++ (Debian's
// libmsgpack-cxx-dev, header only, used without Boost).
//
// It speaks the Cocaine worker protocol (PROTOCOL.md section 6) over the
// UNIX socket given as --endpoint, exactly as examples/apps/echo-c does:
//
//   W->R  [1, 0, [uuid]]                 handshake
//   W->R  [1, 0, []]                     heartbeat, every
//                                        COCAINE_HEARTBEAT_INTERVAL s (10)
//   R->W  [1, 0, []]                     heartbeat answer; none within
//                                        COCAINE_DISOWN_TIMEOUT s (30):
//                                        "disowned", exit 1
//   R->W  [1, 1, [code, reason]]         terminate: echoed as is, exit 0
//   R->W  [ch, 0, ["echo"]]              every chunk [ch, 0, [data]] is
//                                        written back; [ch, 2, []] closes;
//                                        [ch, 1, [[cat, code], reason]]
//                                        is answered [[42, 100],
//                                        "RequestError: [cat, code] reason"]
//   R->W  [ch, 0, ["ping"]]              answered "pong", then close
//   R->W  [ch, 0, [other]]               [ch, 1, [[42, 200],
//                                        "no handler for event 'other'"]]
//
// Text goes out as msgpack str, chunks as bin; both are accepted as input.
// The runtime closing the connection makes it exit with status 1.
//
// Build: make (c++ -DMSGPACK_NO_BOOST -O2 -Wall -o echo echo.cpp)

#include <msgpack.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

const std::uint64_t CONTROL = 1;
const unsigned CHUNK = 0, ERROR = 1, CHOKE = 2;     // message types
const unsigned HEARTBEAT = 0, TERMINATE = 1;        // on channel 1
const unsigned FRAMEWORK_CATEGORY = 42;
const unsigned UNCAUGHT_EXCEPTION = 100;
const unsigned NO_HANDLER = 200;
const std::size_t MAX_BUFFER = 128u * 1024u * 1024u;
const std::size_t READ_SIZE = 64 * 1024;

using Clock = std::chrono::steady_clock;

std::string appName = "echo-cpp";

void log(const std::string &line)
{
    std::cerr << "echo-cpp " << appName << " " << getpid() << ": " << line
              << std::endl;
}

// A str or a bin as a std::string of bytes; false for anything else.
bool blob(const msgpack::object &o, std::string &out)
{
    if (o.type == msgpack::type::STR) {
        out.assign(o.via.str.ptr, o.via.str.size);
    } else if (o.type == msgpack::type::BIN) {
        out.assign(o.via.bin.ptr, o.via.bin.size);
    } else {
        return false;
    }
    return true;
}

bool uint(const msgpack::object &o, std::uint64_t &out)
{
    if (o.type != msgpack::type::POSITIVE_INTEGER)
        return false;
    out = o.via.u64;
    return true;
}

double seconds(const char *name, double fallback)
{
    const char *value = std::getenv(name);
    if (!value || !*value)
        return fallback;
    char *end;
    double number = std::strtod(value, &end);
    return (*end == '\0' && number > 0) ? number : fallback;
}

// --name VALUE or --name=VALUE; null when absent.
const char *argument(int argc, char **argv, const char *name)
{
    std::size_t n = std::strlen(name);
    for (int i = 1; i < argc; i++) {
        if (std::strncmp(argv[i], name, n) != 0)
            continue;
        if (argv[i][n] == '=')
            return argv[i] + n + 1;
        if (argv[i][n] == '\0' && i + 1 < argc)
            return argv[i + 1];
    }
    return nullptr;
}

class Worker {
public:
    Worker(int fd, double interval, double disownTimeout)
        : fd_(fd), packer_(out_),
          interval_(toDuration(interval)),
          disownTimeout_(disownTimeout) {}

    // Handshake, then serve until the runtime goes away (1), disowns us
    // (1) or asks us to terminate (0).
    int run(const std::string &uuid)
    {
        begin(CONTROL, HEARTBEAT, 1);
        packer_.pack_str(uuid.size());
        packer_.pack_str_body(uuid.data(), uuid.size());
        heartbeat();
        log("handshake sent");
        Clock::time_point nextHeartbeat = Clock::now() + interval_;
        for (;;) {
            Clock::time_point wake = nextHeartbeat;
            if (disownArmed_ && disownDeadline_ < wake)
                wake = disownDeadline_;
            auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                wake - Clock::now()).count();
            struct pollfd p = {fd_, POLLIN, 0};
            int ready = poll(&p, 1, wait > 0 ? int(wait) + 1 : 0);
            if (ready < 0 && errno != EINTR) {
                log(std::string("poll: ") + std::strerror(errno));
                return 1;
            }
            Clock::time_point now = Clock::now();
            if (disownArmed_ && now >= disownDeadline_) {
                std::ostringstream line;
                line << "disowned: no heartbeat answer from the runtime in "
                     << disownTimeout_ << " s; exiting";
                log(line.str());
                return 1;
            }
            if (now >= nextHeartbeat) {
                heartbeat();
                nextHeartbeat = now + interval_;
            }
            if (ready <= 0)
                continue;
            int status = receive();
            if (status >= 0)
                return status;
        }
    }

private:
    static Clock::duration toDuration(double s)
    {
        return std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(s));
    }

    // Read what is there and handle every complete message: -1 to go on,
    // otherwise the exit status.
    int receive()
    {
        unpacker_.reserve_buffer(READ_SIZE);
        ssize_t n = read(fd_, unpacker_.buffer(), unpacker_.buffer_capacity());
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return -1;
        if (n <= 0) {
            log("connection to the runtime lost; exiting");
            return 1;
        }
        unpacker_.buffer_consumed(std::size_t(n));
        try {
            msgpack::object_handle message;
            while (unpacker_.next(message)) {
                int status = handle(message.get());
                if (status >= 0)
                    return status;
            }
        } catch (const msgpack::unpack_error &error) {
            log(std::string("broken stream from the runtime (") +
                error.what() + "); exiting");
            return 1;
        }
        flush();
        if (unpacker_.nonparsed_size() > MAX_BUFFER) {
            log("a frame from the runtime is over the size limit; exiting");
            return 1;
        }
        return -1;
    }

    // One message: -1 to go on, otherwise the exit status.
    int handle(const msgpack::object &message)
    {
        std::uint64_t channel, type;
        if (message.type != msgpack::type::ARRAY
                || message.via.array.size < 3
                || !uint(message.via.array.ptr[0], channel)
                || !uint(message.via.array.ptr[1], type)
                || message.via.array.ptr[2].type != msgpack::type::ARRAY) {
            log("ignoring a malformed message");
            return -1;
        }
        const msgpack::object_array &args = message.via.array.ptr[2].via.array;
        if (channel == CONTROL) {
            if (type == HEARTBEAT) {
                disownArmed_ = false;
            } else if (type == TERMINATE) {
                begin(CONTROL, TERMINATE, args.size);
                for (std::uint32_t i = 0; i < args.size; i++)
                    packer_.pack(args.ptr[i]);
                flush();
                log("terminate requested by the runtime; exiting");
                return 0;
            }
            return -1;
        }
        if (sessions_.count(channel)) {
            session(channel, type, args);
            return -1;
        }
        if (channel <= maxChannel_)
            return -1;                  // a finished session
        if (type != CHUNK) {
            std::ostringstream line;
            line << "ignoring type " << type << " on new channel " << channel;
            log(line.str());
            return -1;
        }
        maxChannel_ = channel;
        std::string event;
        if (args.size >= 1)
            blob(args.ptr[0], event);
        if (event == "echo") {
            sessions_.insert(channel);
        } else if (event == "ping") {
            begin(channel, CHUNK, 1);
            bin("pong");
            begin(channel, CHOKE, 0);
        } else {
            std::string text = "no handler for event '" +
                event.substr(0, 200) + "'";
            log(text);
            error(channel, NO_HANDLER, text);
        }
        return -1;
    }

    // A message on an open echo session.
    void session(std::uint64_t channel, std::uint64_t type,
                 const msgpack::object_array &args)
    {
        if (type == CHUNK) {
            std::string data;
            if (args.size < 1 || !blob(args.ptr[0], data)) {
                std::ostringstream line;
                line << "ignoring a chunk that is not bytes on channel "
                     << channel;
                log(line.str());
                return;
            }
            begin(channel, CHUNK, 1);
            bin(data);
        } else if (type == CHOKE) {
            begin(channel, CHOKE, 0);
            sessions_.erase(channel);
        } else if (type == ERROR) {
            std::uint64_t category = 0, code = 0;
            std::string reason;
            if (args.size >= 1 && args.ptr[0].type == msgpack::type::ARRAY
                    && args.ptr[0].via.array.size == 2
                    && uint(args.ptr[0].via.array.ptr[0], category)
                    && uint(args.ptr[0].via.array.ptr[1], code)
                    && args.size >= 2)
                blob(args.ptr[1], reason);
            std::ostringstream text;
            text << "RequestError: [" << category << ", " << code << "] "
                 << reason.substr(0, 400);
            error(channel, UNCAUGHT_EXCEPTION, text.str());
            sessions_.erase(channel);
        }
    }

    // Start [channel, type, [ with nargs arguments to follow.
    void begin(std::uint64_t channel, unsigned type, std::uint32_t nargs)
    {
        packer_.pack_array(3);
        packer_.pack(channel);
        packer_.pack(type);
        packer_.pack_array(nargs);
    }

    void bin(const std::string &data)
    {
        packer_.pack_bin(std::uint32_t(data.size()));
        packer_.pack_bin_body(data.data(), std::uint32_t(data.size()));
    }

    void error(std::uint64_t channel, unsigned code, const std::string &text)
    {
        begin(channel, ERROR, 2);
        packer_.pack_array(2);
        packer_.pack(FRAMEWORK_CATEGORY);
        packer_.pack(code);
        packer_.pack_str(std::uint32_t(text.size()));
        packer_.pack_str_body(text.data(), std::uint32_t(text.size()));
    }

    void heartbeat()
    {
        begin(CONTROL, HEARTBEAT, 0);
        flush();
        if (!disownArmed_) {
            disownArmed_ = true;
            disownDeadline_ = Clock::now() + toDuration(disownTimeout_);
        }
    }

    void flush()
    {
        std::size_t done = 0;
        while (done < out_.size()) {
            ssize_t n = send(fd_, out_.data() + done, out_.size() - done,
                             MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                log(std::string("connection to the runtime lost (") +
                    std::strerror(errno) + "); exiting");
                std::exit(1);
            }
            done += std::size_t(n);
        }
        out_.clear();
    }

    int fd_;
    msgpack::sbuffer out_;
    msgpack::packer<msgpack::sbuffer> packer_;
    msgpack::unpacker unpacker_;
    Clock::duration interval_;
    double disownTimeout_;
    bool disownArmed_ = false;
    Clock::time_point disownDeadline_;
    std::uint64_t maxChannel_ = CONTROL;
    std::set<std::uint64_t> sessions_;      // open echo sessions
};

}  // namespace

int main(int argc, char **argv)
{
    const char *endpoint = argument(argc, argv, "--endpoint");
    const char *uuid = argument(argc, argv, "--uuid");
    const char *app = argument(argc, argv, "--app");
    if (app)
        appName = app;
    if (!endpoint || !uuid) {
        std::cerr << "usage: " << argv[0] << " --app NAME --endpoint PATH "
                  "--locator HOST:PORT --protocol 1 --uuid UUID" << std::endl;
        return 2;
    }
    struct sockaddr_un address;
    std::memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (std::strlen(endpoint) >= sizeof address.sun_path) {
        log(std::string("endpoint path too long: ") + endpoint);
        return 1;
    }
    std::strcpy(address.sun_path, endpoint);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<struct sockaddr *>(&address),
                          sizeof address) < 0) {
        log(std::string("cannot connect to the runtime at ") + endpoint +
            ": " + std::strerror(errno));
        return 1;
    }
    log(std::string("connected to ") + endpoint);
    Worker worker(fd, seconds("COCAINE_HEARTBEAT_INTERVAL", 10),
                  seconds("COCAINE_DISOWN_TIMEOUT", 30));
    int status = worker.run(uuid);
    close(fd);
    return status;
}
