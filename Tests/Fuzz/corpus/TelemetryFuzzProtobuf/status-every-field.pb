BresourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytesS
(type.googleapis.com/google.rpc.ErrorInfo'
INVALID_TRACE_IDcauseway.io
kv*
(type.googleapis.com/google.rpc.RetryInfo