
8ÿÿÿÿÿÿÿÿ,3 spans had an all-zero trace ID â€” dropped