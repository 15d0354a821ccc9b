"""The use cases: every billing rule, callable alike from an HTTP route, a schedule, a queue
worker or a test. Each function takes the account, typed inputs and a `Clock`, and returns
records; `tally.api` parses requests into those inputs and presents the records it gets back.
"""
