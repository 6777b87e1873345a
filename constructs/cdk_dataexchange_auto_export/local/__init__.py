"""Offline tooling: a local Data Exchange endpoint and a CloudFormation lifecycle runner."""
