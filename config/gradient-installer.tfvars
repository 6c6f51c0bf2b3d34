# Example values only (AWS's documentation key; a made-up TSIG secret and API key).
cluster_apikey              = "example-cluster-apikey-0123456789"
artifacts_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
tsig_secret                 = "ZXhhbXBsZS10c2lnLXNlY3JldC1mb3Itd2lsZGNlcnQ="
