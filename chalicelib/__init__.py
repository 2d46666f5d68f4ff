"""yundian: the serverless backend of the cloud store."""
