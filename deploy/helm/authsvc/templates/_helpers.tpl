{{/*
Names and labels shared by the templates.
*/}}

{{/* authsvc.name is the chart name, overridable with nameOverride. */}}
{{- define "authsvc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* authsvc.fullname is the name of every object: the release name, plus the chart name when the release name does not contain it. */}}
{{- define "authsvc.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "authsvc.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "authsvc.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* authsvc.selectorLabels select the pods; they never change across upgrades. */}}
{{- define "authsvc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authsvc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* authsvc.labels go on every object. */}}
{{- define "authsvc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "authsvc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: verification
app.kubernetes.io/part-of: authsvc
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* authsvc.serviceAccountName is the ServiceAccount the pods run as. */}}
{{- define "authsvc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "authsvc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* authsvc.image is the image reference: by digest when one is given, else by tag (default appVersion). */}}
{{- define "authsvc.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* authsvc.secretsDir is where every secret is mounted, one directory per Secret. */}}
{{- define "authsvc.secretsDir" -}}/var/run/secrets/authsvc{{- end }}

{{/*
authsvc.secretMounts is the list of secret files the container reads, as
dicts {volume, secret, dir, key, env}: key is the file the env variable points
at inside dir ("" when the variable names the directory). Optional entries
appear only when their Secret is named. The Deployment builds volumes, mounts
and *_FILE / *_DIR variables from this one list, so they cannot disagree.
*/}}
{{- define "authsvc.secretMounts" -}}
{{- $d := include "authsvc.secretsDir" . -}}
{{- $m := list -}}
{{- $m = append $m (dict "volume" "hmac-keys" "secret" .Values.secrets.hmacKeys "dir" (printf "%s/hmac-keys" $d) "key" "hmac-keys" "env" "AUTHSVC_HMAC_KEYS_FILE") -}}
{{- $m = append $m (dict "volume" "kek" "secret" .Values.secrets.kek "dir" (printf "%s/kek" $d) "key" "kek" "env" "AUTHSVC_KEK_FILE") -}}
{{- $m = append $m (dict "volume" "signing-keys" "secret" .Values.secrets.signingKeys "dir" (printf "%s/signing-keys" $d) "key" "" "env" "AUTHSVC_SIGNING_KEYS_DIR") -}}
{{- $m = append $m (dict "volume" "clients" "secret" .Values.secrets.clients "dir" (printf "%s/clients" $d) "key" "clients.json" "env" "AUTHSVC_CLIENTS_FILE") -}}
{{- $m = append $m (dict "volume" "sms-webhook-secret" "secret" .Values.secrets.smsWebhookSecret "dir" (printf "%s/sms-webhook-secret" $d) "key" "secret" "env" "AUTHSVC_SMS_WEBHOOK_SECRET_FILE") -}}
{{- if .Values.secrets.smsRiskHookSecret }}
{{- $m = append $m (dict "volume" "sms-risk-hook-secret" "secret" .Values.secrets.smsRiskHookSecret "dir" (printf "%s/sms-risk-hook-secret" $d) "key" "secret" "env" "AUTHSVC_SMS_RISK_HOOK_SECRET_FILE") -}}
{{- end }}
{{- if .Values.secrets.channels }}
{{- $m = append $m (dict "volume" "channels" "secret" .Values.secrets.channels "dir" (printf "%s/channels" $d) "key" "channels.json" "env" "AUTHSVC_CHANNELS_FILE") -}}
{{- end }}
{{- if .Values.secrets.smtpPassword }}
{{- $m = append $m (dict "volume" "smtp-password" "secret" .Values.secrets.smtpPassword "dir" (printf "%s/smtp-password" $d) "key" "password" "env" "AUTHSVC_SMTP_PASSWORD_FILE") -}}
{{- end }}
{{- if .Values.redis.passwordSecret }}
{{- $m = append $m (dict "volume" "redis-password" "secret" .Values.redis.passwordSecret "dir" (printf "%s/redis-password" $d) "key" "password" "env" "AUTHSVC_REDIS_PASSWORD_FILE") -}}
{{- end }}
{{- if .Values.redis.sentinelPasswordSecret }}
{{- $m = append $m (dict "volume" "redis-sentinel-password" "secret" .Values.redis.sentinelPasswordSecret "dir" (printf "%s/redis-sentinel-password" $d) "key" "password" "env" "AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE") -}}
{{- end }}
{{- if .Values.redis.caSecret }}
{{- $m = append $m (dict "volume" "redis-ca" "secret" .Values.redis.caSecret "dir" (printf "%s/redis-ca" $d) "key" "ca.crt" "env" "AUTHSVC_REDIS_CA_FILE") -}}
{{- end }}
{{- if (.Values.events | default dict).endpoints }}
{{- $m = append $m (dict "volume" "event-secrets" "secret" .Values.secrets.eventSecrets "dir" (printf "%s/event-secrets" $d) "key" "" "env" "AUTHSVC_EVENTS_SECRETS_DIR") -}}
{{- end }}
{{- $audit := .Values.audit | default dict -}}
{{- with ($audit.postgres | default dict).passwordSecret }}
{{- $m = append $m (dict "volume" "audit-postgres-password" "secret" . "dir" (printf "%s/audit-postgres-password" $d) "key" "password" "env" "AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE") -}}
{{- end }}
{{- $tls := .Values.tls | default dict -}}
{{- with $tls.secret }}
{{- $m = append $m (dict "volume" "tls-cert" "secret" . "dir" (printf "%s/tls-cert" $d) "key" "tls.crt" "env" "AUTHSVC_TLS_CERT_FILE") -}}
{{- $m = append $m (dict "volume" "tls-key" "secret" . "dir" (printf "%s/tls-key" $d) "key" "tls.key" "env" "AUTHSVC_TLS_KEY_FILE") -}}
{{- end }}
{{- with $tls.clientCASecret }}
{{- $m = append $m (dict "volume" "client-ca" "secret" . "dir" (printf "%s/client-ca" $d) "key" "ca.crt" "env" "AUTHSVC_CLIENT_CA_FILE") -}}
{{- end }}
{{- $otel := .Values.otel | default dict -}}
{{- with $otel.caSecret }}
{{- $m = append $m (dict "volume" "otel-ca" "secret" . "dir" (printf "%s/otel-ca" $d) "key" "ca.crt" "env" "OTEL_EXPORTER_OTLP_CERTIFICATE") -}}
{{- end }}
{{- toJson $m -}}
{{- end }}

{{/*
authsvc.validate fails the render on combinations the schema cannot express.
*/}}
{{- define "authsvc.validate" -}}
{{- $s := .Values.shutdown -}}
{{- $need := add $s.preStopSleepSeconds $s.drainSeconds $s.timeoutSeconds -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed shutdown.preStopSleepSeconds + drainSeconds + timeoutSeconds (%v), or pods are killed mid-drain" .Values.terminationGracePeriodSeconds $need) -}}
{{- end -}}
{{- $risk := (.Values.sms | default dict).risk | default dict -}}
{{- if and $risk.hookURL (not .Values.secrets.smsRiskHookSecret) -}}
{{- fail "sms.risk.hookURL is set: secrets.smsRiskHookSecret must name the Secret holding the hook's signing secret" -}}
{{- end -}}
{{- if and .Values.secrets.smsRiskHookSecret (not $risk.hookURL) -}}
{{- fail "secrets.smsRiskHookSecret is set but sms.risk.hookURL is not" -}}
{{- end -}}
{{- if and .Values.smtp.username (not .Values.secrets.smtpPassword) -}}
{{- fail "smtp.username is set: secrets.smtpPassword must name the Secret holding the SMTP password" -}}
{{- end -}}
{{- if and .Values.redis.sentinelPasswordSecret (not (regexMatch "^rediss?-sentinel://" .Values.redis.url)) -}}
{{- fail "redis.sentinelPasswordSecret is only for a redis-sentinel:// or rediss-sentinel:// redis.url" -}}
{{- end -}}
{{- if and (.Values.events | default dict).endpoints (not .Values.secrets.eventSecrets) -}}
{{- fail "events.endpoints is set: secrets.eventSecrets must name the Secret holding each client's signing secret (key <client>)" -}}
{{- end -}}
{{- $audit := .Values.audit | default dict -}}
{{- $pg := $audit.postgres | default dict -}}
{{- if and (eq ($audit.sink | default "stdout") "postgres") (not $pg.url) -}}
{{- fail "audit.sink is postgres: audit.postgres.url must name the database" -}}
{{- end -}}
{{- if and (or $pg.url $pg.passwordSecret) (ne ($audit.sink | default "stdout") "postgres") -}}
{{- fail "audit.postgres is set but audit.sink is not postgres" -}}
{{- end -}}
{{- $tls := .Values.tls | default dict -}}
{{- if and $tls.clientCASecret (not $tls.secret) -}}
{{- fail "tls.clientCASecret needs tls.secret: a client certificate can only be checked where TLS ends, so the pod must serve TLS itself" -}}
{{- end -}}
{{- if and (eq ($tls.clientAuth | default "any") "mtls-only") (not $tls.clientCASecret) -}}
{{- fail "tls.clientAuth is mtls-only: tls.clientCASecret must name the Secret with the client CA bundle" -}}
{{- end -}}
{{- $wa := .Values.webauthn | default dict -}}
{{- $origin := regexFind "^https://[^/?#]+" (lower .Values.publicURL) -}}
{{- $host := regexReplaceAll ":[0-9]+$" (trimPrefix "https://" $origin) "" -}}
{{- with $wa.rpID -}}
{{- if not (or (eq $host .) (hasSuffix (printf ".%s" .) $host)) -}}
{{- fail (printf "webauthn.rpID (%s) must be the host of publicURL (%s) or a parent domain of it" . $host) -}}
{{- end -}}
{{- end -}}
{{- $g := .Values.grpc | default dict -}}
{{- if $g.maxConcurrentStreams -}}
{{- $need := add (int64 ($g.maxWatchesPerClient | default 1000)) 64 -}}
{{- if lt (int64 $g.maxConcurrentStreams) $need -}}
{{- fail (printf "grpc.maxConcurrentStreams (%d) must be at least grpc.maxWatchesPerClient + 64 (%d): a platform holding its watches on one connection would have its calls queue behind them" (int64 $g.maxConcurrentStreams) $need) -}}
{{- end -}}
{{- end -}}
{{- $i := (.Values.limits | default dict).identity | default dict -}}
{{- range $p := list (list "failureLimit" $i.failureLimit 20 "sharedFailureLimit" $i.sharedFailureLimit) (list "sends" $i.sends 3 "sharedSends" $i.sharedSends) (list "quietStarts" $i.quietStarts 10 "sharedQuietStarts" $i.sharedQuietStarts) -}}
{{- $per := int64 ((index $p 1) | default (index $p 2)) -}}
{{- if and (index $p 4) (le (int64 (index $p 4)) $per) -}}
{{- fail (printf "limits.identity.%s (%d) must be above limits.identity.%s (%d): one client alone could reach it and lock or exhaust an identity for every client" (index $p 3) (int64 (index $p 4)) (index $p 0) $per) -}}
{{- end -}}
{{- end -}}
{{- with $wa.origins -}}
{{- if not (has $origin .) -}}
{{- fail (printf "webauthn.origins must include %s, the origin of publicURL, where the customer pages run passkey ceremonies" $origin) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
authsvc.limitEnv is the list of abuse-limit variables, as dicts {name, value}:
only the limits values set, so that every other limit keeps the service's
default. Integers are printed whole (never 2e+04).
*/}}
{{- define "authsvc.limitEnv" -}}
{{- $l := .Values.limits | default dict -}}
{{- $i := $l.identity | default dict -}}
{{- $e := list -}}
{{- range $v := list (list "AUTHSVC_IDENTITY_FAILURE_LIMIT" $i.failureLimit) (list "AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT" $i.sharedFailureLimit) (list "AUTHSVC_IDENTITY_SENDS" $i.sends) (list "AUTHSVC_IDENTITY_SHARED_SENDS" $i.sharedSends) (list "AUTHSVC_IDENTITY_QUIET_STARTS" $i.quietStarts) (list "AUTHSVC_IDENTITY_SHARED_QUIET_STARTS" $i.sharedQuietStarts) (list "AUTHSVC_LIMIT_CLIENT_DAILY" $l.clientDaily) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (toString (int64 (index $v 1)))) -}}
{{- end -}}
{{- end -}}
{{- range $v := list (list "AUTHSVC_IDENTITY_FIRST_LOCK" $i.firstLock) (list "AUTHSVC_IDENTITY_LONGEST_LOCK" $i.longestLock) (list "AUTHSVC_IDENTITY_FAILURE_WINDOW" $i.failureWindow) (list "AUTHSVC_IDENTITY_SEND_WINDOW" $i.sendWindow) (list "AUTHSVC_LIMIT_DESTINATION" $l.destination) (list "AUTHSVC_LIMIT_PREFIX" $l.prefix) (list "AUTHSVC_LIMIT_COUNTRY" $l.country) (list "AUTHSVC_LIMIT_CLIENT" $l.client) (list "AUTHSVC_LIMIT_AGENT" $l.agent) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (index $v 1)) -}}
{{- end -}}
{{- end -}}
{{- with $l.smsCountries -}}
{{- $cc := list -}}
{{- range . -}}
{{- $cc = append $cc (toString (int64 .)) -}}
{{- end -}}
{{- $e = append $e (dict "name" "AUTHSVC_SMS_COUNTRIES" "value" (join "," $cc)) -}}
{{- end -}}
{{- with $l.emailProviderRules -}}
{{- $r := list -}}
{{- range $domain, $rules := . -}}
{{- $r = append $r (printf "%s:%s" $domain $rules) -}}
{{- end -}}
{{- $e = append $e (dict "name" "AUTHSVC_EMAIL_PROVIDER_RULES" "value" (join "," $r)) -}}
{{- end -}}
{{- toJson $e -}}
{{- end }}

{{/*
authsvc.enrollmentEnv is the list of enrollment and passkey variables, as dicts
{name, value}: only the values set, so that every other keeps the service's
default (which derives the relying party from publicURL).
*/}}
{{- define "authsvc.enrollmentEnv" -}}
{{- $en := .Values.enrollment | default dict -}}
{{- $wa := .Values.webauthn | default dict -}}
{{- $e := list -}}
{{- range $v := list (list "AUTHSVC_ENROLLMENT_WINDOW" $en.window) (list "AUTHSVC_ENROLLMENT_LINK_TTL" $en.linkTTL) (list "AUTHSVC_FACTOR_REPORT_TTL" $en.reportTTL) (list "AUTHSVC_FACTOR_REPORT_HOLD" $en.reportHold) (list "AUTHSVC_CUSTOMER_RETENTION" $en.retention) (list "AUTHSVC_WEBAUTHN_RP_ID" $wa.rpID) (list "AUTHSVC_WEBAUTHN_TIMEOUT" $wa.timeout) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (index $v 1)) -}}
{{- end -}}
{{- end -}}
{{- with $wa.origins -}}
{{- $e = append $e (dict "name" "AUTHSVC_WEBAUTHN_ORIGINS" "value" (join "," .)) -}}
{{- end -}}
{{- toJson $e -}}
{{- end }}

{{/*
authsvc.auditEnv is the list of audit trail variables, as dicts {name, value}:
the sink always, the rest only when set, so that every other keeps the
service's default.
*/}}
{{- define "authsvc.auditEnv" -}}
{{- $a := .Values.audit | default dict -}}
{{- $e := list (dict "name" "AUTHSVC_AUDIT_SINK" "value" ($a.sink | default "stdout")) -}}
{{- range $v := list (list "AUTHSVC_AUDIT_BUFFER" $a.buffer) (list "AUTHSVC_AUDIT_RETENTION" $a.retention) (list "AUTHSVC_AUDIT_POSTGRES_URL" ($a.postgres | default dict).url) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (index $v 1)) -}}
{{- end -}}
{{- end -}}
{{- toJson $e -}}
{{- end }}

{{/*
authsvc.grpcEnv is the list of gRPC transport-limit variables, as dicts
{name, value}: only the values set, so that every other keeps the service's
default. Integers are printed whole.
*/}}
{{- define "authsvc.grpcEnv" -}}
{{- $g := .Values.grpc | default dict -}}
{{- $e := list -}}
{{- range $v := list (list "AUTHSVC_GRPC_MAX_HEADER_BYTES" $g.maxHeaderBytes) (list "AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS" $g.maxConcurrentStreams) (list "AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT" $g.maxWatchesPerClient) (list "AUTHSVC_GRPC_MAX_HEALTH_WATCHES" $g.maxHealthWatches) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (toString (int64 (index $v 1)))) -}}
{{- end -}}
{{- end -}}
{{- range $v := list (list "AUTHSVC_GRPC_HANDSHAKE_TIMEOUT" $g.handshakeTimeout) (list "AUTHSVC_GRPC_MAX_CONNECTION_AGE" $g.maxConnectionAge) (list "AUTHSVC_GRPC_MAX_CONNECTION_AGE_GRACE" $g.maxConnectionAgeGrace) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (index $v 1)) -}}
{{- end -}}
{{- end -}}
{{- toJson $e -}}
{{- end }}

{{/*
authsvc.redisPorts is the JSON list of TCP ports the pods reach Redis on: the
port of every host in redis.url (26379 for a Sentinel URL's host without one,
else 6379), plus networkPolicy.egress.redisPorts; for a Sentinel URL the
data port 6379 when redisPorts is empty (the sentinels announce the master
and replicas at their own ports, which the URL does not name).
*/}}
{{- define "authsvc.redisPorts" -}}
{{- $url := .Values.redis.url -}}
{{- $sentinel := regexMatch "^rediss?-sentinel://" $url -}}
{{- $hosts := regexReplaceAll "^[a-z-]+://([^/@]*@)?" $url "" | regexFind "^[^/?]*" -}}
{{- $ports := list -}}
{{- range splitList "," $hosts -}}
{{- $p := regexFind ":[0-9]+$" . | trimPrefix ":" -}}
{{- $ports = append $ports (int (ternary $p (ternary "26379" "6379" $sentinel) (ne $p ""))) -}}
{{- end -}}
{{- $extra := (.Values.networkPolicy.egress | default dict).redisPorts | default list -}}
{{- if and $sentinel (empty $extra) -}}
{{- $extra = list 6379 -}}
{{- end -}}
{{- range $extra -}}
{{- $ports = append $ports (int .) -}}
{{- end -}}
{{- toJson (uniq $ports) -}}
{{- end }}

{{/* authsvc.smtpPort is the SMTP port: smtp.port, or the mode's default. */}}
{{- define "authsvc.smtpPort" -}}
{{- if .Values.smtp.port -}}
{{- int .Values.smtp.port -}}
{{- else if eq .Values.smtp.tls "tls" -}}
465
{{- else -}}
587
{{- end -}}
{{- end }}

{{/* authsvc.auditPostgresPort is the port of audit.postgres.url (5432 when it names none). */}}
{{- define "authsvc.auditPostgresPort" -}}
{{- $p := (urlParse ((.Values.audit | default dict).postgres | default dict).url).host | regexFind ":[0-9]+$" | trimPrefix ":" -}}
{{- ternary $p "5432" (ne $p "") -}}
{{- end }}

{{/* authsvc.webhookPort is the port of sms.webhookURL (443 when it names none). */}}
{{- define "authsvc.webhookPort" -}}
{{- $p := (urlParse .Values.sms.webhookURL).host | regexFind ":[0-9]+$" | trimPrefix ":" -}}
{{- ternary $p "443" (ne $p "") -}}
{{- end }}

{{/*
authsvc.otelEnv is the list of OpenTelemetry variables, as dicts {name, value}:
none while otel.endpoint is empty, which leaves tracing off. The resource names
the namespace and the pod (through $(OTEL_K8S_POD_NAME), which the Deployment
sets from the downward API just before), then otel.resourceAttributes by key.
*/}}
{{- define "authsvc.otelEnv" -}}
{{- $o := .Values.otel | default dict -}}
{{- $e := list -}}
{{- if $o.endpoint -}}
{{- $e = append $e (dict "name" "OTEL_EXPORTER_OTLP_ENDPOINT" "value" $o.endpoint) -}}
{{- $e = append $e (dict "name" "OTEL_EXPORTER_OTLP_PROTOCOL" "value" ($o.protocol | default "http/protobuf")) -}}
{{- $e = append $e (dict "name" "OTEL_SERVICE_NAME" "value" ($o.serviceName | default "authsvc")) -}}
{{- with $o.sampler -}}
{{- $e = append $e (dict "name" "OTEL_TRACES_SAMPLER" "value" .) -}}
{{- end -}}
{{- with $o.samplerArg -}}
{{- $e = append $e (dict "name" "OTEL_TRACES_SAMPLER_ARG" "value" .) -}}
{{- end -}}
{{- $attrs := list (printf "k8s.namespace.name=%s" .Release.Namespace) "k8s.pod.name=$(OTEL_K8S_POD_NAME)" -}}
{{- range $k, $v := $o.resourceAttributes -}}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- $e = append $e (dict "name" "OTEL_RESOURCE_ATTRIBUTES" "value" (join "," $attrs)) -}}
{{- end -}}
{{- toJson $e -}}
{{- end }}

{{/*
authsvc.smsEnv is the list of SMS fraud variables (number types, breakers, risk
hook), as dicts {name, value}: only the values set, so that every other keeps
the service's default. Integers are printed whole.
*/}}
{{- define "authsvc.smsEnv" -}}
{{- $s := .Values.sms | default dict -}}
{{- $b := $s.breakers | default dict -}}
{{- $bc := $b.country | default dict -}}
{{- $bp := $b.prefix | default dict -}}
{{- $r := $s.risk | default dict -}}
{{- $e := list -}}
{{- range $v := list (list "AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_DAY" $bc.floorDay) (list "AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_HOUR" $bc.floorHour) (list "AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_DAY" $bp.floorDay) (list "AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_HOUR" $bp.floorHour) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (toString (int64 (index $v 1)))) -}}
{{- end -}}
{{- end -}}
{{- range $v := list (list "AUTHSVC_SMS_TOLL_FREE" $s.tollFree) (list "AUTHSVC_SMS_VOIP" $s.voip) (list "AUTHSVC_SMS_UNKNOWN_TYPE" $s.unknownType) (list "AUTHSVC_SMS_BREAKER_MODE" $b.mode) (list "AUTHSVC_SMS_BREAKER_COUNTRY_RATIO" $bc.ratio) (list "AUTHSVC_SMS_BREAKER_PREFIX_RATIO" $bp.ratio) (list "AUTHSVC_SMS_BREAKER_COOLDOWN" $b.cooldown) (list "AUTHSVC_SMS_BREAKER_GRACE" $b.grace) (list "AUTHSVC_SMS_RISK_HOOK_URL" $r.hookURL) (list "AUTHSVC_SMS_RISK_HOOK_TIMEOUT" $r.timeout) (list "AUTHSVC_SMS_RISK_FAIL" $r.fail) (list "AUTHSVC_SMS_RISK_SIM_SWAP" $r.simSwap) (list "AUTHSVC_SMS_RISK_CALL_FORWARDING" $r.callForwarding) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (index $v 1)) -}}
{{- end -}}
{{- end -}}
{{- with $b.safeList -}}
{{- $e = append $e (dict "name" "AUTHSVC_SMS_SAFE_LIST" "value" (join "," .)) -}}
{{- end -}}
{{- toJson $e -}}
{{- end }}

{{/*
authsvc.eventsEnv is the list of events variables, as dicts {name, value}: none
while events.endpoints is empty; else the endpoints (CLIENT=URL,…) and the
knobs that are set. The secrets directory comes with authsvc.secretMounts.
*/}}
{{- define "authsvc.eventsEnv" -}}
{{- $ev := .Values.events | default dict -}}
{{- $e := list -}}
{{- if $ev.endpoints -}}
{{- $list := list -}}
{{- range $ev.endpoints -}}
{{- $list = append $list (printf "%s=%s" .client .url) -}}
{{- end -}}
{{- $e = append $e (dict "name" "AUTHSVC_EVENTS_ENDPOINTS" "value" (join "," $list)) -}}
{{- range $v := list (list "AUTHSVC_EVENTS_DEPLOYMENT_CLIENT" $ev.deploymentClient) (list "AUTHSVC_EVENTS_MAX_AGE" $ev.maxAge) (list "AUTHSVC_EVENTS_TIMEOUT" $ev.timeout) (list "AUTHSVC_EVENTS_MAX_BACKOFF" $ev.maxBackoff) -}}
{{- if index $v 1 -}}
{{- $e = append $e (dict "name" (index $v 0) "value" (index $v 1)) -}}
{{- end -}}
{{- end -}}
{{- with $ev.concurrency -}}
{{- $e = append $e (dict "name" "AUTHSVC_EVENTS_CONCURRENCY" "value" (toString (int64 .))) -}}
{{- end -}}
{{- end -}}
{{- toJson $e -}}
{{- end }}

{{/* authsvc.eventPorts is the JSON list of the ports of events.endpoints' URLs (443 when one names none). */}}
{{- define "authsvc.eventPorts" -}}
{{- $ports := list -}}
{{- range ((.Values.events | default dict).endpoints | default list) -}}
{{- $p := (urlParse .url).host | regexFind ":[0-9]+$" | trimPrefix ":" -}}
{{- $ports = append $ports (int (ternary $p "443" (ne $p ""))) -}}
{{- end -}}
{{- toJson (uniq $ports) -}}
{{- end }}
