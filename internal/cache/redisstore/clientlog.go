package redisstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// RouteClientLog sends the Redis client library's own messages (a line on
// stderr for each failed dial, among others) to log at debug level: the
// store already logs every change between up and down once. The library
// keeps one logger per process, so the binary calls this once, at start.
func RouteClientLog(log *slog.Logger) {
	redis.SetLogger(clientLog{log})
}

type clientLog struct{ log *slog.Logger }

func (l clientLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}
