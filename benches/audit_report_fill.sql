-- Fill audit_records with :rows realistic rows for the audit report
-- benchmark (benches/README.md, "Audit report on 10M rows"). Shaped like
-- the scale.sh audit fill (30 days in insertion order, ~10,000 subjects,
-- 100 agents, a quarter token decisions, the rest introspections, the
-- record JSON shaped like the server's), plus what a report reads: token
-- decisions are 88% allow; refusals are would_deny for the report-only
-- agents (agent-0 .. agent-29) and deny for the others, by reason
-- missing_group / pattern_not_allowed / expired, and 1% are rate-limit
-- summaries standing for 5 refusals each (`count`); three patterns; two
-- upstreams, the Entra one with three tenants. The hashes are not real
-- (audit verify reports the chain). Written for the schema before
-- migration 0006, so starting agent-sts afterwards runs 0006's backfill.
--   psql -v rows=10000000 -f benches/audit_report_fill.sql DBURL
INSERT INTO audit_records (chain, seq, at, event, decision, reason, subject, agent, prev_hash, hash, record)
SELECT chain, g, at, ev, dec, rs, subj, agent, ph, h,
  '{"chain":"' || chain || '","seq":' || g || ',"time":"' || to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  || '","request_id":"' || substr(md5(g || 'r'), 1, 22) || '","event":"' || ev || '","decision":"' || dec || '","reason":"' || rs
  || '","detail":"","subject":"' || subj || '","idp":"' || idp || '","tenant":' || coalesce('"' || tenant || '"', 'null')
  || ',"agent":"' || agent || '","agent_principal":"system:serviceaccount:agents:' || agent || '","client_id":"' || agent || '-client","act":'
  || CASE WHEN ev = 'token' THEN '{"sub":"system:serviceaccount:agents:' || agent || '","iss":"https://k8s.bench.example"}' ELSE 'null' END
  || ',"pattern":' || CASE WHEN ev = 'token' THEN '"' || pattern || '"' ELSE 'null' END
  || ',"audience":"https://mcp-' || a || '.bench.example","scopes_requested":null,"scopes_required":["svc' || a || ':data:read"],"scopes_granted":["svc' || a
  || ':data:read"],"jti":"' || substr(md5(g || 'j'), 1, 22) || '","expires_at":' || (at + 600) || ',"client_ip":"10.0.' || (g % 250) || '.' || (g % 199)
  || '","count":' || coalesce(cnt::text, 'null') || ',"prev_hash":"' || ph || '","hash":"' || h || '"}'
FROM (
  SELECT g, chain, at, ev, subj, agent, a, ph, h, cnt,
    CASE WHEN ev <> 'token' OR k < 88 THEN 'allow' WHEN a < 30 AND k < 99 THEN 'would_deny' ELSE 'deny' END AS dec,
    CASE WHEN ev <> 'token' THEN 'active' WHEN k < 88 THEN 'granted' WHEN k < 94 THEN 'missing_group'
         WHEN k < 97 THEN 'pattern_not_allowed' WHEN k < 99 THEN 'expired' ELSE 'rate_limited' END AS rs,
    (ARRAY['obo', 'hybrid', 'workload'])[1 + a % 3] AS pattern,
    CASE WHEN u % 2 = 0 THEN 'https://example.okta.com/oauth2/default' ELSE 'https://login.microsoftonline.com/common/v2.0' END AS idp,
    CASE WHEN u % 2 = 1 THEN 'tenant-' || (u % 3) END AS tenant
  FROM (
    SELECT g, 'bench-report.1' AS chain,
      extract(epoch FROM now())::bigint - 30 * 86400 + (g::numeric * 30 * 86400 / :rows)::bigint AS at,
      CASE WHEN g % 4 = 0 THEN 'token' ELSE 'introspect' END AS ev,
      (g / 4) % 100 AS k, (g * 7919) % 10000 AS u,
      '00u' || lpad(((g * 7919) % 10000)::text, 5, '0') || 'bEnChUsEr0x7' AS subj,
      'agent-' || ((g * 31) % 100) AS agent, (g * 31) % 100 AS a,
      CASE WHEN g % 4 = 0 AND (g / 4) % 100 = 99 THEN 5 END AS cnt,
      md5('h' || (g - 1)) || md5('H' || (g - 1)) AS ph, md5('h' || g) || md5('H' || g) AS h
    FROM generate_series(1::bigint, :rows) g
  ) s
) t;
