"""The durable inbox of webhook events: receiving (verify, group commit, answer), processing
(fetch, store, link, classify, score, write back) and the ``/v1/events`` admin surface."""
