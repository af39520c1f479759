"""The KRA public data API (data.go.kr B551015): client, parsing into records, replay server.

Only this package knows KRA field names; everything it hands out is a record from
`kra_graphql.kra.records`. Import from the submodules: `client`, `parsing`, `records`,
`errors`, `ratelimit`, `replay`, `sample`.
"""
