"""The costs domain: daily and monthly cost reports from the billing export."""
