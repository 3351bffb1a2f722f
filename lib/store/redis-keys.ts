// The Redis store's key names. Each starts with `{<keyPrefix>}`, a Redis Cluster hash tag: a
// Cluster hashes only what is inside the first `{...}` of a key, so all of a store's keys share
// one hash slot, as its scripts (which touch several keys at once) require. A topic holding
// braces changes nothing: the prefix's pair comes first. A prefix holding `}` ends the tag
// early, at the same place in every key; one that starts with `}` would leave it empty (the
// whole key hashed), so the options refuse it.

export interface RedisKeys {
  /** The current history: epoch, ms, seq. */
  readonly meta: string
  /** The shared log every instance follows. */
  readonly log: string
  /** (time, seq) pairs that bound the events of forgotten topics. */
  readonly checkpoints: string
  /** Followed by a topic: that topic's list. */
  readonly history: string
}

export function redisKeys (keyPrefix: string): RedisKeys {
  const tag = `{${keyPrefix}}`
  return { meta: `${tag}:meta`, log: `${tag}:log`, checkpoints: `${tag}:checkpoints`, history: `${tag}:history:` }
}
