#!/usr/bin/env perl
# -*- test-case-name: tests.worker.test_languages -*-
#
# echo.pl: the echo app as a Perl worker on Data::MessagePack (Debian's
# libdata-messagepack-perl) and core modules only.
#
# It speaks the Cocaine worker protocol (PROTOCOL.md section 6) over the
# UNIX socket given as --endpoint, exactly as examples/apps/echo-c does:
#
#   W->R  [1, 0, [uuid]]              handshake
#   W->R  [1, 0, []]                  heartbeat, every
#                                     COCAINE_HEARTBEAT_INTERVAL s (10)
#   R->W  [1, 0, []]                  heartbeat answer; none within
#                                     COCAINE_DISOWN_TIMEOUT s (30):
#                                     "disowned", exit 1
#   R->W  [1, 1, [code, reason]]      terminate: echoed as is, exit 0
#   R->W  [ch, 0, ["echo"]]           every chunk [ch, 0, [data]] is written
#                                     back; [ch, 2, []] closes;
#                                     [ch, 1, [[cat, code], reason]] is
#                                     answered [[42, 100],
#                                     "RequestError: [cat, code] reason"]
#   R->W  [ch, 0, ["ping"]]           answered "pong", then close
#   R->W  [ch, 0, [other]]            [ch, 1, [[42, 200],
#                                     "no handler for event 'other'"]]
#
# Text goes out as msgpack str, chunks as bin; both are accepted as input.
# The runtime closing the connection makes it exit with status 1.
#
# One select loop serves the socket and the heartbeat timer. Data::MessagePack
# decodes whole values only, so frameEnd below finds where each message in
# the input stream ends.
#
# Run: ./echo.pl --app NAME --endpoint PATH --locator HOST:PORT
#                --protocol 1 --uuid UUID

use strict;
use warnings;

use B ();
use Data::MessagePack;
use Errno qw(EAGAIN EINTR);
use Getopt::Long qw(GetOptionsFromArray :config pass_through);
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

use constant {
    CONTROL    => 1,
    CHUNK      => 0, ERROR => 1, CHOKE => 2,       # message types
    HEARTBEAT  => 0, TERMINATE => 1,               # on channel 1
    FRAMEWORK_CATEGORY => 42,
    UNCAUGHT_EXCEPTION => 100,
    NO_HANDLER => 200,
    MAX_BUFFER => 128 * 1024 * 1024,
    READ_SIZE  => 64 * 1024,
};

# Strings pack as bin with this one, as str (UTF-8) with the other.
my $binary = Data::MessagePack->new;
my $text = Data::MessagePack->new->utf8;

my %option = (app => 'echo-perl');
GetOptionsFromArray([@ARGV], \%option, 'app=s', 'endpoint=s', 'locator=s',
                    'protocol=s', 'uuid=s');
$SIG{PIPE} = 'IGNORE';                 # a lost runtime is a write error
STDERR->autoflush(1);

sub logLine {
    print STDERR "echo-perl $option{app} $$: @_\n";
}

sub now { clock_gettime(CLOCK_MONOTONIC) }

sub seconds {
    my ($name, $fallback) = @_;
    my $value = $ENV{$name};
    return $fallback
        unless defined $value && $value =~ /^\s*(\d+\.?\d*|\.\d+)\s*$/
            && $1 > 0;
    return $1 + 0;
}

# ---- msgpack framing ------------------------------------------------------

# Payload bytes after the type byte, for the fixed-size types.
my %FIXED = (0xca => 4, 0xcb => 8, 0xcc => 1, 0xcd => 2, 0xce => 4,
             0xcf => 8, 0xd0 => 1, 0xd1 => 2, 0xd2 => 4, 0xd3 => 8,
             0xd4 => 2, 0xd5 => 3, 0xd6 => 5, 0xd7 => 9, 0xd8 => 17);
# [length bytes, pack letter, extra bytes] for str, bin and ext.
my %SIZED = (0xc4 => [1, 'C', 0], 0xc5 => [2, 'n', 0], 0xc6 => [4, 'N', 0],
             0xd9 => [1, 'C', 0], 0xda => [2, 'n', 0], 0xdb => [4, 'N', 0],
             0xc7 => [1, 'C', 1], 0xc8 => [2, 'n', 1], 0xc9 => [4, 'N', 1]);
# [length bytes, pack letter, values per entry] for arrays and maps.
my %CONTAINER = (0xdc => [2, 'n', 1], 0xdd => [4, 'N', 1],
                 0xde => [2, 'n', 2], 0xdf => [4, 'N', 2]);

# Where the msgpack value starting at $pos in $$buffer ends: undef when it
# is not all there yet; dies when the bytes are not msgpack.
sub frameEnd {
    my ($buffer, $pos) = @_;
    my $length = length $$buffer;
    my $pending = 1;                   # values still to skip
    while ($pending > 0) {
        return undef if $pos >= $length;
        my $byte = ord substr($$buffer, $pos, 1);
        $pending--;
        $pos++;
        if ($byte <= 0x7f || $byte >= 0xe0 || $byte == 0xc0
                || $byte == 0xc2 || $byte == 0xc3) {
            next;
        } elsif (($byte & 0xf0) == 0x80) {
            $pending += 2 * ($byte & 0x0f);
        } elsif (($byte & 0xf0) == 0x90) {
            $pending += $byte & 0x0f;
        } elsif (($byte & 0xe0) == 0xa0) {
            $pos += $byte & 0x1f;
        } elsif (exists $FIXED{$byte}) {
            $pos += $FIXED{$byte};
        } elsif (my $sized = $SIZED{$byte} || $CONTAINER{$byte}) {
            my ($bytes, $letter, $extra) = @$sized;
            return undef if $pos + $bytes > $length;
            my $count = unpack $letter, substr($$buffer, $pos, $bytes);
            $pos += $bytes;
            if ($SIZED{$byte}) {
                $pos += $count + $extra;
            } else {
                $pending += $count * $extra;
            }
        } else {
            die sprintf "byte 0x%02x is not msgpack\n", $byte;
        }
    }
    return $pos <= $length ? $pos : undef;
}

# ---- the worker -----------------------------------------------------------

my $socket;
my $out = '';
my $maxChannel = CONTROL;
my %sessions;                          # open echo sessions
my ($disownArmed, $disownDeadline) = (0, 0);
my $disownTimeout = seconds('COCAINE_DISOWN_TIMEOUT', 30);

# An unsigned integer as msgpack decoded it (not a string of digits).
sub isUint {
    my ($value) = @_;
    return 0 if !defined $value || ref $value;
    my $flags = B::svref_2object(\$value)->FLAGS;
    return ($flags & B::SVf_IOK) && !($flags & B::SVf_POK) && $value >= 0;
}

# A str or a bin (both are bytes to us).
sub isBlob {
    my ($value) = @_;
    return 0 if !defined $value || ref $value;
    my $flags = B::svref_2object(\$value)->FLAGS;
    return ($flags & B::SVf_POK)
        && !($flags & (B::SVf_IOK | B::SVf_NOK));
}

# The bytes of a str or a bin: Data::MessagePack decodes a str holding
# valid UTF-8 into characters; this turns them back into what came.
sub octets {
    my ($value) = @_;
    utf8::encode($value) if utf8::is_utf8($value);
    return $value;
}

# Text for the str packer: valid UTF-8 becomes characters (packed back
# as the same bytes); anything else stays bytes.
sub asText {
    my ($value) = @_;
    utf8::decode($value);
    return $value;
}

# Add [channel, type, args] to the output, strings packed by $packer.
# Channel and type go out as integers even after Perl used them as text
# (a hash key, a log line), which would make the packer see strings.
sub queue {
    my ($packer, $channel, $type, $args) = @_;
    $out .= $packer->pack([$channel + 0, $type + 0, $args]);
}

sub flushOut {
    while (length $out) {
        my $n = syswrite $socket, $out;
        if (!defined $n) {
            next if $! == EINTR;
            logLine("connection to the runtime lost ($!); exiting");
            exit 1;
        }
        substr($out, 0, $n, '');
    }
}

sub sendError {
    my ($channel, $code, $message) = @_;
    queue($text, $channel, ERROR,
          [[FRAMEWORK_CATEGORY, $code + 0], asText($message)]);
}

sub heartbeat {
    queue($binary, CONTROL, HEARTBEAT, []);
    flushOut();
    if (!$disownArmed) {
        $disownArmed = 1;
        $disownDeadline = now() + $disownTimeout;
    }
}

# A message on an open echo session.
sub session {
    my ($channel, $type, $args) = @_;
    if ($type == CHUNK) {
        if (!@$args || !isBlob($args->[0])) {
            logLine("ignoring a chunk that is not bytes on channel $channel");
            return;
        }
        queue($binary, $channel, CHUNK, [octets($args->[0])]);
    } elsif ($type == CHOKE) {
        queue($binary, $channel, CHOKE, []);
        delete $sessions{$channel};
    } elsif ($type == ERROR) {
        my ($category, $code, $reason) = (0, 0, '');
        my $pair = $args->[0];
        if (ref $pair eq 'ARRAY' && @$pair == 2 && isUint($pair->[0])
                && isUint($pair->[1])) {
            ($category, $code) = @$pair;
            $reason = octets($args->[1]) if @$args >= 2
                && isBlob($args->[1]);
        }
        sendError($channel, UNCAUGHT_EXCEPTION,
                  "RequestError: [$category, $code] "
                  . substr($reason, 0, 400));
        delete $sessions{$channel};
    }
}

# One complete message; returns the exit status once the worker is done.
sub handle {
    my ($frame) = @_;
    my $message = eval { $binary->unpack($frame) };
    if (ref $message ne 'ARRAY' || @$message < 3 || !isUint($message->[0])
            || !isUint($message->[1]) || ref $message->[2] ne 'ARRAY') {
        logLine("ignoring a malformed message of " . length($frame)
                . " bytes");
        return undef;
    }
    my ($channel, $type, $args) = @$message;
    if ($channel == CONTROL) {
        if ($type == HEARTBEAT) {
            $disownArmed = 0;
        } elsif ($type == TERMINATE) {
            # Echo the arguments exactly as they came: their bytes are what
            # follows the array header, the channel and the type.
            my $pos = frameEnd(\$frame, frameEnd(\$frame,
                                                 arrayHeader($frame)));
            my $end = frameEnd(\$frame, $pos);
            $out .= "\x93" . $binary->pack(CONTROL)
                . $binary->pack(TERMINATE)
                . substr($frame, $pos, $end - $pos);
            flushOut();
            logLine("terminate requested by the runtime; exiting");
            return 0;
        }
        return undef;
    }
    if ($sessions{$channel}) {
        session($channel, $type, $args);
        return undef;
    }
    return undef if $channel <= $maxChannel;    # a finished session
    if ($type != CHUNK) {
        logLine("ignoring type $type on new channel $channel");
        return undef;
    }
    $maxChannel = $channel;
    my $event = @$args && isBlob($args->[0]) ? octets($args->[0]) : '';
    if ($event eq 'echo') {
        $sessions{$channel} = 1;
    } elsif ($event eq 'ping') {
        queue($binary, $channel, CHUNK, ['pong']);
        queue($binary, $channel, CHOKE, []);
    } else {
        my $message = "no handler for event '" . substr($event, 0, 200)
            . "'";
        logLine($message);
        sendError($channel, NO_HANDLER, $message);
    }
    return undef;
}

# The length of the array header that starts a message.
sub arrayHeader {
    my $byte = ord $_[0];
    return ($byte & 0xf0) == 0x90 ? 1 : $byte == 0xdc ? 3 : 5;
}

sub serve {
    my $interval = seconds('COCAINE_HEARTBEAT_INTERVAL', 10);
    my $in = '';
    queue($text, CONTROL, HEARTBEAT, [asText($option{uuid})]);
    heartbeat();
    logLine("connected to $option{endpoint}, handshake sent");
    my $nextHeartbeat = now() + $interval;
    while (1) {
        my $wake = $nextHeartbeat;
        $wake = $disownDeadline
            if $disownArmed && $disownDeadline < $wake;
        my $wait = $wake - now();
        my $readable = '';
        vec($readable, fileno($socket), 1) = 1;
        my $ready = select($readable, undef, undef, $wait > 0 ? $wait : 0);
        if ($ready < 0 && $! != EINTR) {
            logLine("select: $!");
            return 1;
        }
        my $now = now();
        if ($disownArmed && $now >= $disownDeadline) {
            logLine("disowned: no heartbeat answer from the runtime in "
                    . "$disownTimeout s; exiting");
            return 1;
        }
        if ($now >= $nextHeartbeat) {
            heartbeat();
            $nextHeartbeat = $now + $interval;
        }
        next if $ready <= 0;
        my $n = sysread $socket, $in, READ_SIZE, length $in;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            logLine("connection to the runtime lost ($!); exiting");
            return 1;
        }
        if ($n == 0) {
            logLine('connection to the runtime lost; exiting');
            return 1;
        }
        my $used = 0;
        while ($used < length $in) {
            my $end = eval { frameEnd(\$in, $used) };
            if ($@) {
                chomp(my $why = $@);
                logLine("broken stream from the runtime ($why); exiting");
                return 1;
            }
            last unless defined $end;
            my $status = handle(substr($in, $used, $end - $used));
            return $status if defined $status;
            $used = $end;
        }
        flushOut();
        substr($in, 0, $used, '');
        if (length $in > MAX_BUFFER) {
            logLine('a frame from the runtime is over the size limit; '
                    . 'exiting');
            return 1;
        }
    }
}

if (!defined $option{endpoint} || !defined $option{uuid}) {
    print STDERR "usage: $0 --app NAME --endpoint PATH --locator HOST:PORT "
        . "--protocol 1 --uuid UUID\n";
    exit 2;
}
$socket = IO::Socket::UNIX->new(Type => SOCK_STREAM,
                                Peer => $option{endpoint});
if (!$socket) {
    logLine("cannot connect to the runtime at $option{endpoint}: $!");
    exit 1;
}
binmode $socket;
my $status = serve();
close $socket;
exit $status;
