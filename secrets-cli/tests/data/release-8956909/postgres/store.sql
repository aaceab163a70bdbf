SET check_function_bodies = false;
--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)


--
-- Name: coffer_limited(name); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.coffer_limited(who name) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
                SELECT EXISTS (
                    SELECT 1 FROM public.role_paths r
                    WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles g
                                            WHERE g.oid = r.role)
                          THEN pg_catalog.pg_has_role(who, r.role, 'USAGE') ELSE false END)
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles u
                                WHERE u.rolname = who AND (u.rolsuper OR u.rolbypassrls))
                AND NOT pg_catalog.pg_has_role(who,
                    (SELECT c.relowner FROM pg_catalog.pg_class c
                     WHERE c.oid = 'public.params'::pg_catalog.regclass), 'USAGE')
            $$;


--
-- Name: coffer_visible(text, name); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.coffer_visible(n text, who name) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
                SELECT EXISTS (
                    SELECT 1 FROM public.role_paths r
                    WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles g
                                            WHERE g.oid = r.role)
                          THEN pg_catalog.pg_has_role(who, r.role, 'USAGE') ELSE false END
                      AND (r.path = '/' OR n = r.path
                           OR pg_catalog.starts_with(n, r.path || '/')))
            $$;




--
-- Name: audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit (
    seq bigint NOT NULL,
    at bigint NOT NULL,
    actor text NOT NULL,
    verb text NOT NULL,
    name text NOT NULL,
    detail text NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    CONSTRAINT audit_seq_check CHECK ((seq >= 1))
);


--
-- Name: audit_chain; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.audit_chain AS
 SELECT audit.seq,
    audit.prev_hash,
    audit.hash
   FROM public.audit;


--
-- Name: key_paths; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.key_paths (
    name text NOT NULL COLLATE pg_catalog."C",
    secret bytea NOT NULL,
    paths text NOT NULL,
    holes text NOT NULL,
    seal_seq bigint NOT NULL,
    mac bytea NOT NULL
);


--
-- Name: key_versions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.key_versions (
    name text NOT NULL COLLATE pg_catalog."C",
    version bigint NOT NULL,
    uuid bytea NOT NULL,
    created_at bigint NOT NULL,
    wrapped bytea NOT NULL,
    root_id text NOT NULL,
    mac bytea,
    CONSTRAINT key_versions_uuid_check CHECK ((length(uuid) = 16)),
    CONSTRAINT key_versions_version_check CHECK ((version >= 1))
);


--
-- Name: keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.keys (
    name text NOT NULL COLLATE pg_catalog."C",
    spec text NOT NULL,
    created_at bigint NOT NULL,
    state text NOT NULL,
    rotation_period_secs bigint,
    min_decrypt_version bigint DEFAULT 1 NOT NULL,
    active_version bigint NOT NULL,
    seal_seq bigint,
    mac bytea,
    root text,
    CONSTRAINT keys_active_version_check CHECK ((active_version >= 1)),
    CONSTRAINT keys_min_decrypt_version_check CHECK ((min_decrypt_version >= 1)),
    CONSTRAINT keys_rotation_period_secs_check CHECK ((rotation_period_secs > 0)),
    CONSTRAINT keys_state_check CHECK ((state = ANY (ARRAY['enabled'::text, 'disabled'::text])))
);


--
-- Name: meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meta (
    key text NOT NULL COLLATE pg_catalog."C",
    value text NOT NULL
);


--
-- Name: param_labels; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.param_labels (
    name text NOT NULL COLLATE pg_catalog."C",
    label text NOT NULL COLLATE pg_catalog."C",
    version bigint NOT NULL
);


--
-- Name: param_rotations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.param_rotations (
    name text NOT NULL COLLATE pg_catalog."C",
    every_secs bigint,
    generate text,
    set_hook text,
    test_hook text,
    hook_timeout_secs bigint NOT NULL,
    next_due bigint,
    lease_holder text,
    lease_until bigint,
    last_error text,
    seal bytea,
    workdir text,
    pending_run bytea,
    lease_hook bigint,
    CONSTRAINT param_rotations_every_secs_check CHECK ((every_secs > 0)),
    CONSTRAINT param_rotations_hook_timeout_secs_check CHECK ((hook_timeout_secs > 0))
);


--
-- Name: param_versions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.param_versions (
    name text NOT NULL COLLATE pg_catalog."C",
    version bigint NOT NULL,
    type text NOT NULL,
    value bytea,
    key_ref text,
    description text,
    tags text DEFAULT '{}'::text NOT NULL,
    created_at bigint NOT NULL,
    author text NOT NULL,
    expires_at bigint,
    destroyed_at bigint,
    mac bytea,
    CONSTRAINT param_versions_check CHECK (((value IS NULL) = (destroyed_at IS NOT NULL))),
    CONSTRAINT param_versions_type_check CHECK ((type = ANY (ARRAY['string'::text, 'string-list'::text, 'secure-string'::text]))),
    CONSTRAINT param_versions_version_check CHECK ((version >= 1))
);


--
-- Name: params; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.params (
    name text NOT NULL COLLATE pg_catalog."C",
    parent text NOT NULL COLLATE pg_catalog."C",
    latest bigint NOT NULL,
    created_at bigint NOT NULL,
    deleted_at bigint,
    born bigint,
    seal_seq bigint,
    mac bytea,
    CONSTRAINT params_latest_check CHECK ((latest >= 1))
);


--
-- Name: policies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.policies (
    path text NOT NULL COLLATE pg_catalog."C",
    key_ref text NOT NULL,
    created_at bigint NOT NULL,
    author text NOT NULL
);


--
-- Name: policy_seal; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.policy_seal (
    one integer NOT NULL,
    seal_seq bigint NOT NULL,
    mac bytea NOT NULL,
    CONSTRAINT policy_seal_one_check CHECK ((one = 1))
);


--
-- Name: role_paths; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.role_paths (
    role oid NOT NULL,
    path text NOT NULL COLLATE pg_catalog."C"
);


--
-- Data for Name: audit; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit VALUES (1, 1796684339, 'root (uid 0)', 'key-create', 'prod', 'version 1, aes-256', '\x0000000000000000000000000000000000000000000000000000000000000000', '\xdf85dc0f3a938b5aed422b483903a9994c392f1586d6d76d38d176b4c6d46fef');
INSERT INTO public.audit VALUES (2, 1796684339, 'root (uid 0)', 'attest-paths', 'prod', 'paths none; holes none', '\xdf85dc0f3a938b5aed422b483903a9994c392f1586d6d76d38d176b4c6d46fef', '\x5a952ca4a97b8fbe96968bd833bbe0e975bc056468dc8456687a19c507fa463d');
INSERT INTO public.audit VALUES (3, 1796684339, 'root (uid 0)', 'policy-set', '/app/prod', 'key local:prod', '\x5a952ca4a97b8fbe96968bd833bbe0e975bc056468dc8456687a19c507fa463d', '\x52567073a348fe5013645cd5d58249e4149e38c1bcf82987cefbab658dfe3d5f');
INSERT INTO public.audit VALUES (4, 1796684339, 'root (uid 0)', 'attest-paths', 'prod', 'paths /app/prod; holes none', '\x52567073a348fe5013645cd5d58249e4149e38c1bcf82987cefbab658dfe3d5f', '\x7e8124cffc5c07172756e8325d5c5aca52d86add04371c57b35d2accb4e017a9');
INSERT INTO public.audit VALUES (5, 1796684340, 'root (uid 0)', 'put', '/app/prod/db', 'version 1, secure-string', '\x7e8124cffc5c07172756e8325d5c5aca52d86add04371c57b35d2accb4e017a9', '\x9291a6645c54718143430ba5bb8d5ad75a8ba9f22b30538910a5540591e5aa68');
INSERT INTO public.audit VALUES (6, 1796684340, 'root (uid 0)', 'put', '/app/prod/db', 'version 2, secure-string', '\x9291a6645c54718143430ba5bb8d5ad75a8ba9f22b30538910a5540591e5aa68', '\x0f63d9947b2147645e47758b41eb86e5aa4daba1590e9a00ee439b98867b7764');
INSERT INTO public.audit VALUES (7, 1796684340, 'root (uid 0)', 'label', '/app/prod/db', 'previous -> 1', '\x0f63d9947b2147645e47758b41eb86e5aa4daba1590e9a00ee439b98867b7764', '\xa0e9a8d026c10b96b8c6fbed4f44d96e4f559afcb051de7b28c5246d26f650a7');
INSERT INTO public.audit VALUES (8, 1796684340, 'root (uid 0)', 'put', '/app/prod/region', 'version 1, string', '\xa0e9a8d026c10b96b8c6fbed4f44d96e4f559afcb051de7b28c5246d26f650a7', '\xdaa7e9f6d1327ed8ec3756646037b2630aa2971310af91101f19a997fb24de31');
INSERT INTO public.audit VALUES (9, 1796684340, 'root (uid 0)', 'put', '/app/prod/gone', 'version 1, string', '\xdaa7e9f6d1327ed8ec3756646037b2630aa2971310af91101f19a997fb24de31', '\x2ff943c89f0082774969356b067b3fe1b251a1fb3896a0297c6b2dd48e0a9bb2');
INSERT INTO public.audit VALUES (10, 1796684340, 'root (uid 0)', 'rm', '/app/prod/gone', 'latest version 1', '\x2ff943c89f0082774969356b067b3fe1b251a1fb3896a0297c6b2dd48e0a9bb2', '\xcd40de5ef6b030140c75be595f86dd95c55627566032fb22e9d5cf7b9bd99e04');
INSERT INTO public.audit VALUES (11, 1796684340, 'root (uid 0)', 'key-create', 'params', 'version 1, aes-256', '\xcd40de5ef6b030140c75be595f86dd95c55627566032fb22e9d5cf7b9bd99e04', '\x02e0fe3a4bb9c4ea7a7f74d3200ad3c537f6ef61d177f3e9a2000a852ffb46e9');
INSERT INTO public.audit VALUES (12, 1796684340, 'root (uid 0)', 'put', '/app/x', 'version 1, secure-string', '\x02e0fe3a4bb9c4ea7a7f74d3200ad3c537f6ef61d177f3e9a2000a852ffb46e9', '\xeddffb47fe03101acbd87764226967cb26888f123688905d2df5c452a978c926');
INSERT INTO public.audit VALUES (13, 1796684340, 'root (uid 0)', 'policy-set', '/app/prod/open', 'key local:params', '\xeddffb47fe03101acbd87764226967cb26888f123688905d2df5c452a978c926', '\xf34d3ef39ea4e31b34d2568c2c2040ba4ec511ef1579a7855cd45cbf12ea7a84');
INSERT INTO public.audit VALUES (14, 1796684340, 'root (uid 0)', 'attest-paths', 'prod', 'paths /app/prod; holes /app/prod/open', '\xf34d3ef39ea4e31b34d2568c2c2040ba4ec511ef1579a7855cd45cbf12ea7a84', '\x8bd6d8cb50cd141e79dc570fd90c4619837f6dc29a4605bfdc8a92809c1206b0');
INSERT INTO public.audit VALUES (15, 1796684340, 'root (uid 0)', 'put', '/app/prod/open/x', 'version 1, string', '\x8bd6d8cb50cd141e79dc570fd90c4619837f6dc29a4605bfdc8a92809c1206b0', '\x705e9a7f96cad5af48108388b2c046fe69e8f9af778401684f52578a50c9ab69');
INSERT INTO public.audit VALUES (16, 1796684340, 'root (uid 0)', 'key-rotate', 'prod', 'version 2 (was 1)', '\x705e9a7f96cad5af48108388b2c046fe69e8f9af778401684f52578a50c9ab69', '\x83e964b8588f99791b08c36ae834ab7c624bb5783d0d7711e747c9a20335cf77');
INSERT INTO public.audit VALUES (17, 1796684340, 'root (uid 0)', 'put', '/app/prod/db', 'version 3, secure-string', '\x83e964b8588f99791b08c36ae834ab7c624bb5783d0d7711e747c9a20335cf77', '\xee58f2ffcd1a35ba0a06a3641460870b9eb30cdc1060d48db0fe56674f6bae2d');
INSERT INTO public.audit VALUES (18, 1796684340, 'root (uid 0)', 'get-secure', '/app/prod/db', 'version 3', '\xee58f2ffcd1a35ba0a06a3641460870b9eb30cdc1060d48db0fe56674f6bae2d', '\x3dd608172dd9b051a9d93cd911c7dbbe8df134889b4298ac218c8fd25b129898');


--
-- Data for Name: key_paths; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.key_paths VALUES ('prod', '\xb4a9fe4057a2befe50525096a2f70a49b84c9719410d990bfbdbe89266737b4be072cdd99a63699b49818523a9b53ce6c30a82390159d2aa8030e06a', '/app/prod', '/app/prod/open', 14, '\xb981da6f59904d63445e1b1f1e65440f76743eba7b276e8b2d1787eabd8ccc54');


--
-- Data for Name: key_versions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.key_versions VALUES ('prod', 1, '\x6e4d855c3ac64bd696f4ddf376b7cffd', 1796684339, '\x0cb54926d7903221b4ce948161d9387c9990753f62a48e09925add3a52e47d2d0c1109f3859eb8cfe9e5eb7f4c95862a5acc0325401e5b1875d1e84e', 'local:d20cf9ea4da79091', '\xb41a5cced7972d423e81c04a620d835455636103a91575ea58ea0ab6fa90f449');
INSERT INTO public.key_versions VALUES ('params', 1, '\xd6cadfaaa9e14505aad328134a47fa45', 1796684340, '\xd32fd5561bc31ef0e0c34ad8303c66635392251282814aa91c88046c1e20f57c4c5374b19d129bcba736d3818436eeca4ad81ccc09580c6578a10e14', 'local:22ca1a8d68c4f286', '\x624ee272124398a4f944a715e3b2b78ef208ebff32ae43dbdd7d67b399337e1f');
INSERT INTO public.key_versions VALUES ('prod', 2, '\x406aeb0252da4325a1c1a4e8d29f8e09', 1796684340, '\x1eba7b02fcd500e6329c2746b75816edb4c53c880bba419c1247aa9b4f1bd038e6d463956e3053f0d1f66aee324a0a8504e7a5d27f9db50075d8d44e', 'local:d20cf9ea4da79091', '\x71669db3df8e9ce9bedd59549b5120cfba6784c7670d6e1f7c2e2ec178fe1e98');


--
-- Data for Name: keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.keys VALUES ('params', 'aes-256', 1796684340, 'enabled', NULL, 1, 1, 11, '\xd63f65f4f0fde5074a9fde3f4a4c40b197c48674dbf67b083b7abcd166218b98', NULL);
INSERT INTO public.keys VALUES ('prod', 'aes-256', 1796684339, 'enabled', NULL, 1, 2, 16, '\x9c37998eff179275ba1329f02f18c12373537e635ed1abc9bef65eb3707d4008', 'local:d20cf9ea4da79091');


--
-- Data for Name: meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.meta VALUES ('schema', '9');
INSERT INTO public.meta VALUES ('created_at', '1796684339');
INSERT INTO public.meta VALUES ('root_id', 'local:22ca1a8d68c4f286');
INSERT INTO public.meta VALUES ('store_id', '39acb0e89d1f63df98c07f13a5659f19');
INSERT INTO public.meta VALUES ('audit_key', '32f1f26d2f9d2c20343789217539a206f4334e2f2d1abd1b145ed7e16966687170833e3208718eb03405fac081778fa6a8de955fb53b1da5cecdeb25');
INSERT INTO public.meta VALUES ('audit_key_format', '4');
INSERT INTO public.meta VALUES ('audit_keyed_from', '1');
INSERT INTO public.meta VALUES ('audit_policies', '13');
INSERT INTO public.meta VALUES ('audit_count', '18');
INSERT INTO public.meta VALUES ('audit_head', '3dd608172dd9b051a9d93cd911c7dbbe8df134889b4298ac218c8fd25b129898');
INSERT INTO public.meta VALUES ('audit_head_mac', 'f660b6bf5f2f02496e2b26645426e2dcac8f28852b93afa67a47fac6b34f268e');


--
-- Data for Name: param_labels; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.param_labels VALUES ('/app/prod/db', 'previous', 1);
INSERT INTO public.param_labels VALUES ('/app/prod/region', 'current', 1);
INSERT INTO public.param_labels VALUES ('/app/prod/gone', 'current', 1);
INSERT INTO public.param_labels VALUES ('/app/x', 'current', 1);
INSERT INTO public.param_labels VALUES ('/app/prod/open/x', 'current', 1);
INSERT INTO public.param_labels VALUES ('/app/prod/db', 'current', 3);


--
-- Data for Name: param_rotations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: param_versions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.param_versions VALUES ('/app/prod/db', 1, 'secure-string', '\x020478708c278e476512e8c0892f8541092cc19c0939e51c8b321cfe8013beb04adbfd00310002000c636f666665723a706172616d000c2f6170702f70726f642f6462000e636f666665723a76657273696f6e000131000100116177732d6b6d732d686965726172636879000470726f64005c9879f99dc1ae0de972d8a16366737a4edd44472592eeeacef8c0197e6e4d855c3ac64bd696f4ddf376b7cffdf12072bb537cacf6569e88b46b73a6455dc8ff467749eb94b1e33efdebb7dc51c090712ecb4b8e03cfc5b582b0694aef0200001000eb54d1f46df322514e24148f155e49ddde3f37a3e928b26604a2634fdd8f16bfd80455ca4f1d3770fbcfa8e2027202ccffffffff0000000100000000000000000000000100000006341417619deba56927cf7d0367d13150b4bd5babc6e0', 'local:prod', NULL, '{}', 1796684340, 'root (uid 0)', NULL, NULL, '\x25b0b1687d0175e23d2aae5e3f29ac6acf92f834f71c84c83687c9c8870965ca');
INSERT INTO public.param_versions VALUES ('/app/prod/db', 2, 'secure-string', '\x02047836dd2bd2cfa501ec99def152c8f18f0d370143f5a57998baf53bed81f784e92a00310002000c636f666665723a706172616d000c2f6170702f70726f642f6462000e636f666665723a76657273696f6e000132000100116177732d6b6d732d686965726172636879000470726f64005c40a995f5a074d5e9bdee71c3f19a66ed29c22928246b77b08bc678ee6e4d855c3ac64bd696f4ddf376b7cffd9c0ddc3658774f614cb05f33e489960acb23118db67f8d5bb8beadfce34221178e726793ca84ccf004aed68cd09e84fd0200001000491d82a4a9ff3addbc22896e6bf1ac157dd8ee98d05e49472bedbbcc334e95acf780e3bb702e09bf6974f6d77649b841ffffffff0000000100000000000000000000000100000008d86a6334649280c516020af55f0ddceef5b64256ab92a57f', 'local:prod', NULL, '{}', 1796684340, 'root (uid 0)', NULL, NULL, '\x9517a77ac4ff73ab7d7fa113a856f0caa5f8258d3f15d60390c54d3969b5760d');
INSERT INTO public.param_versions VALUES ('/app/prod/region', 1, 'string', '\x6575', NULL, NULL, '{}', 1796684340, 'root (uid 0)', NULL, NULL, '\x4266066e82737f3f302ae6b00417d056457c44ba1278a7420adce875c8a95940');
INSERT INTO public.param_versions VALUES ('/app/prod/gone', 1, 'string', '\x676f6e65', NULL, NULL, '{}', 1796684340, 'root (uid 0)', NULL, NULL, '\x17bba0ba762f33e4665eea0cb0c2faf4819fff36427e093007e1f677c91b4648');
INSERT INTO public.param_versions VALUES ('/app/x', 1, 'secure-string', '\x0204782ac2b4b18c42a16ff08709a3821e02c07331b14c4c0530f0e3adee038f353a82002b0002000c636f666665723a706172616d00062f6170702f78000e636f666665723a76657273696f6e000131000100116177732d6b6d732d6869657261726368790006706172616d73005ce6b79a91359c5f50bff886a0398da331e3035e76f3639925c805fc14d6cadfaaa9e14505aad328134a47fa4523aeb2fbcd633dab669b97d083b622fdaa0bba404b12d8e72efcffd6e5ec6691bb7c18727e52a4b193a8438b6ea5fd500200001000f81fe2fecfe50adf9142f8b764ce0552d269631ed24305f6e8622feac5d1c91b289e5b7fa545ffdc01131a5379e891acffffffff0000000100000000000000000000000100000005a27e5cb79e5bf2c285f79a20af68a6a1eb78fc95dd', 'local:params', NULL, '{}', 1796684340, 'root (uid 0)', NULL, NULL, '\xa09d8482b57f39242de0af726ab3b04ff19a42eca97f0b546a05e8d20a956d2a');
INSERT INTO public.param_versions VALUES ('/app/prod/open/x', 1, 'string', '\x6f70656e', NULL, NULL, '{}', 1796684340, 'root (uid 0)', NULL, NULL, '\x2799f9f486940bea954f6df80faa74f4122666e12db9e6f67ddb83c32b97776d');
INSERT INTO public.param_versions VALUES ('/app/prod/db', 3, 'secure-string', '\x020478f78d6512adde326653e0d73cde10190f3a3274c8648e377cb82cf944251246e800310002000c636f666665723a706172616d000c2f6170702f70726f642f6462000e636f666665723a76657273696f6e000133000100116177732d6b6d732d686965726172636879000470726f64005c2532275d8181ebbcbcf189d450bdff679701e7c0fdf66b9c4d847311406aeb0252da4325a1c1a4e8d29f8e09bb0b00354b5da41f95e8ce347636f65e13e81d607e8d9fa0109f7c0d330aeb3e0b9945d5de30bc8ec49c879031cde0ed0200001000caae18f65f5001459046110af5fe22614b784f83079e30dc5a7ac175a70c83a7f0611c4dae48b2aa70d1ae431753c6a8ffffffff0000000100000000000000000000000100000008811593bb7502aabc834d1e0f80b809c067bea291d74b75de', 'local:prod', NULL, '{}', 1796684340, 'root (uid 0)', NULL, NULL, '\xddf1d07a129e8fc58d3cb7c1aff9748a45d51002b7af716c913a1a7282f10e50');


--
-- Data for Name: params; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.params VALUES ('/app/prod/region', '/app/prod', 1, 1796684340, NULL, 8, 8, '\xd9000bbd7227f9faaac0260dd542c92149376b5f8cea9a34cd8e53a1818773e8');
INSERT INTO public.params VALUES ('/app/prod/gone', '/app/prod', 1, 1796684340, 1796684340, 9, 10, '\x321e185714e3b00b34ab6486385db01639c15c26def3575e3bd45f5c04a70050');
INSERT INTO public.params VALUES ('/app/x', '/app', 1, 1796684340, NULL, 12, 12, '\x9e9a1b4201ff11b80903bcf5bcf820928134dd2caa72b97245be52011814083b');
INSERT INTO public.params VALUES ('/app/prod/open/x', '/app/prod/open', 1, 1796684340, NULL, 15, 15, '\xe5a4fa5e05facd0ac459a8e55bc8b3334bc7985894f6b3621cb60e725b5d5cad');
INSERT INTO public.params VALUES ('/app/prod/db', '/app/prod', 3, 1796684340, NULL, 5, 17, '\x526ae67a35352e5b8c41c5b811be1488358306d8ee79240add1d103f350500aa');


--
-- Data for Name: policies; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.policies VALUES ('/app/prod', 'local:prod', 1796684339, 'root (uid 0)');
INSERT INTO public.policies VALUES ('/app/prod/open', 'local:params', 1796684340, 'root (uid 0)');


--
-- Data for Name: policy_seal; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.policy_seal VALUES (1, 13, '\xb9604653beb2272b7a888d8f7dba64c6d0b0c94529a7f328af14eecdb6c431f1');


--
-- Data for Name: role_paths; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (seq);


--
-- Name: key_paths key_paths_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_paths
    ADD CONSTRAINT key_paths_pkey PRIMARY KEY (name);


--
-- Name: key_versions key_versions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_versions
    ADD CONSTRAINT key_versions_pkey PRIMARY KEY (name, version);


--
-- Name: key_versions key_versions_uuid_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_versions
    ADD CONSTRAINT key_versions_uuid_key UNIQUE (uuid);


--
-- Name: keys keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.keys
    ADD CONSTRAINT keys_pkey PRIMARY KEY (name);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (key);


--
-- Name: param_labels param_labels_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.param_labels
    ADD CONSTRAINT param_labels_pkey PRIMARY KEY (name, label);


--
-- Name: param_rotations param_rotations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.param_rotations
    ADD CONSTRAINT param_rotations_pkey PRIMARY KEY (name);


--
-- Name: param_versions param_versions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.param_versions
    ADD CONSTRAINT param_versions_pkey PRIMARY KEY (name, version);


--
-- Name: params params_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.params
    ADD CONSTRAINT params_pkey PRIMARY KEY (name);


--
-- Name: policies policies_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_pkey PRIMARY KEY (path);


--
-- Name: policy_seal policy_seal_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policy_seal
    ADD CONSTRAINT policy_seal_pkey PRIMARY KEY (one);


--
-- Name: role_paths role_paths_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.role_paths
    ADD CONSTRAINT role_paths_pkey PRIMARY KEY (role, path);


--
-- Name: audit_attest_paths; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_attest_paths ON public.audit USING btree (name, seq) WHERE (verb = 'attest-paths'::text);


--
-- Name: audit_key_changes; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_key_changes ON public.audit USING btree (name, seq) WHERE (verb ~~ 'key-%'::text);


--
-- Name: audit_param_changes; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_param_changes ON public.audit USING btree (name, seq) WHERE (verb = ANY (ARRAY['put'::text, 'label'::text, 'unlabel'::text, 'rotate'::text, 'rm'::text, 'restore'::text, 'destroy'::text]));


--
-- Name: param_labels_by_version; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX param_labels_by_version ON public.param_labels USING btree (name, version);


--
-- Name: param_versions_destroyed; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX param_versions_destroyed ON public.param_versions USING btree (name, version) WHERE (destroyed_at IS NOT NULL);


--
-- Name: params_by_parent; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX params_by_parent ON public.params USING btree (parent, name);


--
-- Name: key_paths key_paths_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_paths
    ADD CONSTRAINT key_paths_name_fkey FOREIGN KEY (name) REFERENCES public.keys(name);


--
-- Name: key_versions key_versions_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_versions
    ADD CONSTRAINT key_versions_name_fkey FOREIGN KEY (name) REFERENCES public.keys(name);


--
-- Name: param_labels param_labels_name_version_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.param_labels
    ADD CONSTRAINT param_labels_name_version_fkey FOREIGN KEY (name, version) REFERENCES public.param_versions(name, version) ON DELETE CASCADE;


--
-- Name: param_rotations param_rotations_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.param_rotations
    ADD CONSTRAINT param_rotations_name_fkey FOREIGN KEY (name) REFERENCES public.params(name) ON DELETE CASCADE;


--
-- Name: param_versions param_versions_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.param_versions
    ADD CONSTRAINT param_versions_name_fkey FOREIGN KEY (name) REFERENCES public.params(name) ON DELETE CASCADE;


--
-- Name: audit; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.audit ENABLE ROW LEVEL SECURITY;

--
-- Name: meta coffer_any; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY coffer_any ON public.meta USING (( SELECT (NOT public.coffer_limited(CURRENT_USER)))) WITH CHECK (( SELECT (NOT public.coffer_limited(CURRENT_USER))));


--
-- Name: meta coffer_head; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY coffer_head ON public.meta FOR UPDATE USING ((key = ANY (ARRAY['audit_count'::text, 'audit_head'::text, 'audit_head_mac'::text, 'audit_keyed_from'::text, 'audit_policies'::text]))) WITH CHECK ((key = ANY (ARRAY['audit_count'::text, 'audit_head'::text, 'audit_head_mac'::text])));


--
-- Name: audit coffer_paths; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY coffer_paths ON public.audit USING ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR ("left"(name, 1) <> '/'::text) OR public.coffer_visible(name, CURRENT_USER))) WITH CHECK ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER)));


--
-- Name: param_labels coffer_paths; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY coffer_paths ON public.param_labels USING ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER))) WITH CHECK ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER)));


--
-- Name: param_rotations coffer_paths; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY coffer_paths ON public.param_rotations USING ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER))) WITH CHECK ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER)));


--
-- Name: param_versions coffer_paths; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY coffer_paths ON public.param_versions USING ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER))) WITH CHECK ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER)));


--
-- Name: params coffer_paths; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY coffer_paths ON public.params USING ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER))) WITH CHECK ((( SELECT (NOT public.coffer_limited(CURRENT_USER))) OR public.coffer_visible(name, CURRENT_USER)));


--
-- Name: meta coffer_read; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY coffer_read ON public.meta FOR SELECT USING (true);


--
-- Name: meta; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.meta ENABLE ROW LEVEL SECURITY;

--
-- Name: param_labels; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.param_labels ENABLE ROW LEVEL SECURITY;

--
-- Name: param_rotations; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.param_rotations ENABLE ROW LEVEL SECURITY;

--
-- Name: param_versions; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.param_versions ENABLE ROW LEVEL SECURITY;

--
-- Name: params; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.params ENABLE ROW LEVEL SECURITY;

--
-- PostgreSQL database dump complete
--


