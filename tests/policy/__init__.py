"""Tests of the policy engine (chaos.policy) and the HTTP actuator (chaos.clients.http)."""
