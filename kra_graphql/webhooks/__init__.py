"""Webhooks: a job's end told to the URLs that asked for it, signed, retried, recorded.

A job's terminal write records one delivery per matching webhook in the same transaction
(`dispatch.py`), so no ending is lost to a crash; a worker then sends each delivery
(`delivery.py`) as an ARQ task of its own, never as a job, and a sweep re-sends what is
due and was not sent.
"""
