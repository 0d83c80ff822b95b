"""The OTT compliance operator: pure builders plus thin kopf handlers."""
