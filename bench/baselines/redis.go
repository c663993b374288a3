package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// redisWorkload is the flash sale as a cache-first service writes it: one Lua script per claim
// (stock, one card per user, the card itself), with Redis persisting by its append-only file
// (appendfsync always or everysec, set by run.sh).
type redisWorkload struct {
	r       *redis.Client
	cfg     config
	scripts atomic.Int64 // claim scripts run (each one transaction)
}

// claimScript: KEYS[1] stock, KEYS[2] claimed set, KEYS[3] card counter; ARGV[1] user.
var claimScript = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
if tonumber(redis.call('GET', KEYS[1])) <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', 'card:' .. id, 'owner', ARGV[1], 'state', 'AVAILABLE')
return id
`)

func newRedis(ctx context.Context, addr string) (workload, error) {
	r := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 128})
	return &redisWorkload{r: r}, r.Ping(ctx).Err()
}

func (w *redisWorkload) close() { _ = w.r.Close() }

func (w *redisWorkload) transactions() int64 { return w.scripts.Load() }

func (w *redisWorkload) setup(ctx context.Context, cfg config) error {
	if cfg.scenario != "flash-sale" {
		return fmt.Errorf("redis runs the flash-sale scenario only")
	}
	w.cfg = cfg
	if err := w.r.FlushAll(ctx).Err(); err != nil {
		return err
	}
	return w.r.Set(ctx, "stock", cfg.flashStock, 0).Err()
}

// op: every user claims once; the sale's payments are PostgreSQL's and kaquan's business, so a
// Redis client is done when its users have tried.
func (w *redisWorkload) op(ctx context.Context, c *client) error {
	if c.next >= len(c.users) {
		return errDone
	}
	u := c.users[c.next]
	c.next++
	return c.timed(func() error {
		id, err := claimScript.Run(ctx, w.r, []string{"stock", "claimed", "cards"}, u).Int64()
		if err != nil {
			return err
		}
		w.scripts.Add(1)
		if id == 0 {
			return errSkip
		}
		return nil
	})
}
