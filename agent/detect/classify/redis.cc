#include "agent/detect/classify/redis.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/detect/classify/limits.h"

namespace sluice::detect::classify {
namespace {

// A command and its arity as Redis's command table states it (COMMAND INFO): the number of
// words including the name, negative for "at least". Used to check inline commands, where
// the argument count is what tells "GET key" from a line of text that starts with "get".
struct Command {
  const char* name;
  int arity;
};
// clang-format off
constexpr Command kCommands[] = {
    // connection
    {"PING", -1}, {"ECHO", 2}, {"AUTH", -2}, {"HELLO", -1}, {"SELECT", 2}, {"QUIT", -1},
    {"RESET", 1},
    // strings
    {"GET", 2}, {"SET", -3}, {"SETNX", 3}, {"SETEX", 4}, {"PSETEX", 4}, {"GETSET", 3},
    {"GETDEL", 2}, {"GETEX", -2}, {"MGET", -2}, {"MSET", -3}, {"MSETNX", -3}, {"APPEND", 3},
    {"STRLEN", 2}, {"INCR", 2}, {"DECR", 2}, {"INCRBY", 3}, {"DECRBY", 3}, {"INCRBYFLOAT", 3},
    {"GETRANGE", 4}, {"SETRANGE", 4}, {"SUBSTR", 4}, {"LCS", -3},
    // keys
    {"DEL", -2}, {"UNLINK", -2}, {"EXISTS", -2}, {"TYPE", 2}, {"KEYS", 2}, {"SCAN", -2},
    {"RANDOMKEY", 1}, {"RENAME", 3}, {"RENAMENX", 3}, {"EXPIRE", -3}, {"PEXPIRE", -3},
    {"EXPIREAT", -3}, {"PEXPIREAT", -3}, {"EXPIRETIME", 2}, {"TTL", 2}, {"PTTL", 2},
    {"PERSIST", 2}, {"MOVE", 3}, {"COPY", -3}, {"DUMP", 2}, {"RESTORE", -4}, {"TOUCH", -2},
    {"OBJECT", -2}, {"SORT", -2}, {"MIGRATE", -6}, {"WAIT", 3}, {"DBSIZE", 1}, {"SWAPDB", 3},
    // lists
    {"LPUSH", -3}, {"RPUSH", -3}, {"LPUSHX", -3}, {"RPUSHX", -3}, {"LPOP", -2}, {"RPOP", -2},
    {"LLEN", 2}, {"LRANGE", 4}, {"LINDEX", 3}, {"LSET", 4}, {"LREM", 4}, {"LTRIM", 4},
    {"LINSERT", 5}, {"LPOS", -3}, {"LMOVE", 5}, {"BLMOVE", 6}, {"RPOPLPUSH", 3},
    {"BRPOPLPUSH", 4}, {"BLPOP", -3}, {"BRPOP", -3}, {"LMPOP", -4}, {"BLMPOP", -5},
    // sets
    {"SADD", -3}, {"SREM", -3}, {"SMEMBERS", 2}, {"SISMEMBER", 3}, {"SMISMEMBER", -3},
    {"SCARD", 2}, {"SPOP", -2}, {"SRANDMEMBER", -2}, {"SMOVE", 4}, {"SUNION", -2},
    {"SINTER", -2}, {"SDIFF", -2}, {"SUNIONSTORE", -3}, {"SINTERSTORE", -3},
    {"SDIFFSTORE", -3}, {"SSCAN", -3}, {"SINTERCARD", -3},
    // hashes
    {"HSET", -4}, {"HSETNX", 4}, {"HGET", 3}, {"HMSET", -4}, {"HMGET", -3}, {"HGETALL", 2},
    {"HDEL", -3}, {"HEXISTS", 3}, {"HKEYS", 2}, {"HVALS", 2}, {"HLEN", 2}, {"HSTRLEN", 3},
    {"HINCRBY", 4}, {"HINCRBYFLOAT", 4}, {"HSCAN", -3}, {"HRANDFIELD", -2},
    // sorted sets
    {"ZADD", -4}, {"ZREM", -3}, {"ZCARD", 2}, {"ZCOUNT", 4}, {"ZSCORE", 3}, {"ZMSCORE", -3},
    {"ZINCRBY", 4}, {"ZRANK", -3}, {"ZREVRANK", -3}, {"ZRANGE", -4}, {"ZREVRANGE", -4},
    {"ZRANGEBYSCORE", -4}, {"ZREVRANGEBYSCORE", -4}, {"ZRANGEBYLEX", -4},
    {"ZREMRANGEBYSCORE", 4}, {"ZREMRANGEBYRANK", 4}, {"ZPOPMIN", -2}, {"ZPOPMAX", -2},
    {"BZPOPMIN", -3}, {"BZPOPMAX", -3}, {"ZSCAN", -3}, {"ZUNIONSTORE", -4},
    {"ZINTERSTORE", -4},
    // streams
    {"XADD", -5}, {"XLEN", 2}, {"XRANGE", -4}, {"XREVRANGE", -4}, {"XREAD", -4},
    {"XREADGROUP", -7}, {"XACK", -4}, {"XDEL", -3}, {"XTRIM", -4}, {"XGROUP", -2},
    {"XINFO", -2}, {"XPENDING", -3}, {"XCLAIM", -6}, {"XAUTOCLAIM", -6},
    // bitmaps, hyperloglog, geo
    {"SETBIT", 4}, {"GETBIT", 3}, {"BITCOUNT", -2}, {"BITOP", -4}, {"BITPOS", -3},
    {"BITFIELD", -2}, {"PFADD", -2}, {"PFCOUNT", -2}, {"PFMERGE", -2}, {"GEOADD", -5},
    {"GEODIST", -4}, {"GEOPOS", -2}, {"GEOHASH", -2}, {"GEOSEARCH", -7}, {"GEORADIUS", -6},
    // pub/sub, transactions, scripting
    {"PUBLISH", 3}, {"SPUBLISH", 3}, {"SUBSCRIBE", -2}, {"SSUBSCRIBE", -2},
    {"PSUBSCRIBE", -2}, {"UNSUBSCRIBE", -1}, {"SUNSUBSCRIBE", -1}, {"PUNSUBSCRIBE", -1},
    {"PUBSUB", -2}, {"MULTI", 1}, {"EXEC", 1}, {"DISCARD", 1}, {"WATCH", -2}, {"UNWATCH", 1},
    {"EVAL", -3}, {"EVALSHA", -3}, {"EVAL_RO", -3}, {"EVALSHA_RO", -3}, {"SCRIPT", -2},
    {"FUNCTION", -2}, {"FCALL", -3}, {"FCALL_RO", -3},
    // server
    {"INFO", -1}, {"CONFIG", -2}, {"CLIENT", -2}, {"CLUSTER", -2}, {"COMMAND", -1},
    {"ACL", -2}, {"MEMORY", -2}, {"MODULE", -2}, {"LATENCY", -2}, {"SLOWLOG", -2},
    {"DEBUG", -2}, {"MONITOR", 1}, {"SAVE", 1}, {"BGSAVE", -1}, {"BGREWRITEAOF", 1},
    {"LASTSAVE", 1}, {"FLUSHDB", -1}, {"FLUSHALL", -1}, {"SHUTDOWN", -1}, {"TIME", 1},
    {"ROLE", 1}, {"REPLICAOF", 3}, {"SLAVEOF", 3}, {"SYNC", 1}, {"PSYNC", -3},
    {"REPLCONF", -1}, {"READONLY", 1}, {"READWRITE", 1}, {"ASKING", 1}, {"FAILOVER", -1},
    {"LOLWUT", -1},
};
// clang-format on

// proto-max-bulk-len: Redis refuses a longer bulk string.
constexpr int64_t kMaxBulkBytes = 512 << 20;

const Command* FindCommand(absl::string_view upper_name) {
  for (const Command& c : kCommands) {
    if (upper_name == c.name) return &c;
  }
  return nullptr;
}

absl::Status NotRedis(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("redis: not a request: ", why));
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
         c == '|';
}

// Outcome of reading one RESP element: read, cut by the end of the prefix, or not RESP.
enum class Step { kOk, kCut, kBad };

// "<type><digits>\r\n" at *pos, the number at most `max`.
Step ReadLength(absl::string_view d, char type, int64_t max, size_t* pos, int64_t* value) {
  size_t i = *pos;
  if (i >= d.size()) return Step::kCut;
  if (d[i] != type) return Step::kBad;
  ++i;
  int64_t v = 0;
  size_t digits = 0;
  for (; i < d.size() && absl::ascii_isdigit(static_cast<unsigned char>(d[i])); ++i) {
    if (++digits > 10) return Step::kBad;
    v = v * 10 + (d[i] - '0');
  }
  if (i == d.size()) return Step::kCut;
  if (digits == 0 || v > max || d[i] != '\r') return Step::kBad;
  if (i + 1 == d.size()) return Step::kCut;
  if (d[i + 1] != '\n') return Step::kBad;
  *pos = i + 2;
  *value = v;
  return Step::kOk;
}

// A bulk string's "$len\r\n", its bytes and CRLF.
Step SkipBulk(absl::string_view d, size_t* pos) {
  int64_t length = 0;
  const Step s = ReadLength(d, '$', kMaxBulkBytes, pos, &length);
  if (s != Step::kOk) return s;
  const auto n = static_cast<size_t>(length);
  if (d.size() - *pos < n + 2) return Step::kCut;
  if (d[*pos + n] != '\r' || d[*pos + n + 1] != '\n') return Step::kBad;
  *pos += n + 2;
  return Step::kOk;
}

// Skips `elements` bulk strings from *pos.
Step SkipBulks(absl::string_view d, int64_t elements, size_t* pos) {
  for (int64_t i = 0; i < elements; ++i) {
    const Step s = SkipBulk(d, pos);
    if (s != Step::kOk) return s;
  }
  return Step::kOk;
}

absl::StatusOr<RedisCommand> ParseArray(absl::string_view d) {
  RedisCommand out;
  size_t pos = 0;
  int64_t elements = 0, name_length = 0;
  // The array and name headers are the shape that tells; a prefix that ends before them
  // cannot be told from other bytes.
  if (ReadLength(d, '*', kMaxRedisArrayElements, &pos, &elements) != Step::kOk || elements == 0) {
    return NotRedis("array header");
  }
  if (ReadLength(d, '$', kMaxRedisCommandBytes, &pos, &name_length) != Step::kOk ||
      name_length == 0) {
    return NotRedis("command name header");
  }
  out.arg_count = static_cast<uint32_t>(elements - 1);
  const absl::string_view name = d.substr(pos, static_cast<size_t>(name_length));
  if (name.empty()) {
    out.truncated = true;  // the headers alone are already a RESP request's shape
    return out;
  }
  if (!absl::ascii_isalpha(static_cast<unsigned char>(name[0])) ||
      !std::all_of(name.begin(), name.end(), IsNameChar)) {
    return NotRedis("command name");
  }
  if (name.size() < static_cast<size_t>(name_length)) {
    out.truncated = true;  // the name is cut: another command's name could start the same way
    return out;
  }
  pos += name.size();
  if (d.size() - pos < 2) {
    if (d.size() > pos && d[pos] != '\r') return NotRedis("command name end");
    out.truncated = true;
  } else if (d[pos] != '\r' || d[pos + 1] != '\n') {
    return NotRedis("command name end");
  }
  out.name = absl::AsciiStrToUpper(name);
  out.known = FindCommand(out.name) != nullptr;
  if (out.truncated) return out;
  pos += 2;

  // The arguments are skipped over, never looked at, to find where the next request of a
  // pipeline starts.
  Step s = SkipBulks(d, elements - 1, &pos);
  if (s != Step::kOk) {
    out.truncated = s == Step::kCut;
    return out;
  }
  while (pos < d.size() && out.request_count < kMaxRedisPipelined) {
    if (ReadLength(d, '*', kMaxRedisArrayElements, &pos, &elements) != Step::kOk) break;
    ++out.request_count;
    if (SkipBulks(d, elements, &pos) != Step::kOk) break;
  }
  return out;
}

// Splits an inline command line the way Redis does (sdssplitargs): words separated by blanks,
// "double quoted" (with backslash escapes) or 'single quoted'. Counts them and returns the first,
// second and last (as written, quotes included). Returns false for unbalanced quotes, or a
// closing quote not followed by a blank, which Redis rejects.
bool SplitInline(absl::string_view line, size_t* words, absl::string_view* first,
                 absl::string_view* second, absl::string_view* last) {
  *words = 0;
  size_t i = 0;
  while (true) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) return true;
    const size_t start = i;
    if (line[i] == '"' || line[i] == '\'') {
      const char quote = line[i++];
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '\\' && quote == '"' && i + 1 < line.size()) {
          i += 2;
        } else if (line[i] == '\\' && quote == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
          i += 2;
        } else if (line[i] == quote) {
          ++i;
          closed = true;
          break;
        } else {
          ++i;
        }
      }
      if (!closed) return false;
      if (i < line.size() && line[i] != ' ' && line[i] != '\t') return false;
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    }
    const absl::string_view word = line.substr(start, i - start);
    if (*words == 0) *first = word;
    if (*words == 1) *second = word;
    *last = word;
    ++*words;
  }
}

absl::StatusOr<RedisCommand> ParseInline(absl::string_view d) {
  const size_t nl = d.substr(0, kMaxRedisInlineBytes + 1).find('\n');
  if (nl == absl::string_view::npos) return NotRedis("no complete line");
  absl::string_view line = d.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!std::all_of(line.begin(), line.end(),
                   [](char c) { return (c >= 0x20 && c < 0x7f) || c == '\t'; })) {
    return NotRedis("inline line bytes");
  }
  size_t words = 0;
  absl::string_view first, second, last;
  if (!SplitInline(line, &words, &first, &second, &last) || words == 0) {
    return NotRedis("inline line");
  }
  // Text starts with words too: the command must be written the way people type commands,
  // all upper or all lower case, and start the line.
  if (first.data() != line.data() || first[0] == '"' || first[0] == '\'') {
    return NotRedis("inline command position");
  }
  const bool upper =
      std::none_of(first.begin(), first.end(), [](char c) { return absl::ascii_islower(c); });
  const bool lower =
      std::none_of(first.begin(), first.end(), [](char c) { return absl::ascii_isupper(c); });
  if (!upper && !lower) return NotRedis("inline command case");
  const std::string name = absl::AsciiStrToUpper(first);
  const Command* c = FindCommand(name);
  if (c == nullptr) return NotRedis("unknown inline command");
  const auto args = static_cast<int64_t>(words - 1);
  if (c->arity >= 0 ? args != c->arity - 1 : args < -c->arity - 1) {
    return NotRedis("inline argument count");
  }
  // "GET /index.html HTTP/1.1" has a Redis command's name and arity but is HTTP, and so is
  // "GET /" (HTTP/0.9, or a request line cut before its version): keys are rarely paths.
  if (words > 1 && (absl::StartsWith(last, "HTTP/") || absl::StartsWith(second, "/"))) {
    return NotRedis("HTTP request line");
  }
  // HELLO's first argument is the protocol version: "hello world" is a greeting.
  if (name == "HELLO" && words > 1 && !std::all_of(second.begin(), second.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return NotRedis("HELLO without a protocol version");
  }
  RedisCommand out;
  out.name = name;
  out.known = true;
  out.inline_form = true;
  out.arg_count = static_cast<uint32_t>(args);
  return out;
}

}  // namespace

bool IsKnownRedisCommand(absl::string_view upper_name) {
  return FindCommand(upper_name) != nullptr;
}

absl::StatusOr<RedisCommand> ParseRedisCommand(absl::Span<const uint8_t> prefix) {
  const absl::string_view data(reinterpret_cast<const char*>(prefix.data()),
                               std::min(prefix.size(), kMaxClassifyBytes));
  if (data.empty()) return NotRedis("empty");
  if (data[0] == '*') return ParseArray(data);
  if (!absl::ascii_isalpha(static_cast<unsigned char>(data[0]))) return NotRedis("first byte");
  return ParseInline(data);
}

}  // namespace sluice::detect::classify
