"""Job functions (RQ or in-process through `referral_app.services.queue.enqueue`).

Each takes ids, never ORM objects, runs inside an app context and is idempotent: running it
twice, or in two workers at once, has the effect of running it once."""
