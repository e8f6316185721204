"""Delivery of notifications: outbox, worker, WeChat subscribe messages, department pushes."""
