"""Storage adapters: the only modules that call AWS.

Each submodule owns one table or service; domain code calls them and never
sees boto3 types. Failures to reach AWS surface as `DbNotConfigured`.
"""
