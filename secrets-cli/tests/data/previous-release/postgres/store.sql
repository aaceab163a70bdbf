--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)




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
-- Name: key_versions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.key_versions (
    name text NOT NULL COLLATE pg_catalog."C",
    version bigint NOT NULL,
    uuid bytea NOT NULL,
    created_at bigint NOT NULL,
    wrapped bytea NOT NULL,
    root_id text NOT NULL,
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
    CONSTRAINT params_latest_check CHECK ((latest >= 1))
);


--
-- Data for Name: audit; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit VALUES (1, 1796411195, 'root (uid 0)', 'put', '/app/dev/greeting', 'version 1, string', '\x0000000000000000000000000000000000000000000000000000000000000000', '\x0fad268764fffd2e267f30bb487b7f71097434cb3b979b163767cd7fd5594fc8');
INSERT INTO public.audit VALUES (2, 1796411195, 'root (uid 0)', 'put', '/app/dev/greeting', 'version 2, string', '\x0fad268764fffd2e267f30bb487b7f71097434cb3b979b163767cd7fd5594fc8', '\x274b6edcadf11725be433c53a03b80ecab2663c556b596361a71343219841045');
INSERT INTO public.audit VALUES (3, 1796411195, 'root (uid 0)', 'put', '/app/dev/list', 'version 1, string-list', '\x274b6edcadf11725be433c53a03b80ecab2663c556b596361a71343219841045', '\x205a9e176d04ebb3b5369ede77ada84e58dfe5f0cd79055edb5671f8554982aa');
INSERT INTO public.audit VALUES (4, 1796411195, 'root (uid 0)', 'key-create', 'params', 'version 1, aes-256', '\x205a9e176d04ebb3b5369ede77ada84e58dfe5f0cd79055edb5671f8554982aa', '\x2e1dce1b45e0637485c4cfd11f9a406beeddc56333ff0b5cd441a267819165af');
INSERT INTO public.audit VALUES (5, 1796411195, 'root (uid 0)', 'put', '/app/prod/db-password', 'version 1, secure-string', '\x2e1dce1b45e0637485c4cfd11f9a406beeddc56333ff0b5cd441a267819165af', '\x4e4fbdbb72c48818967a22e1753db200b9ba89958ec4a9b55bb7ecd505876c2d');
INSERT INTO public.audit VALUES (6, 1796411195, 'root (uid 0)', 'put', '/app/prod/db-password', 'version 2, secure-string', '\x4e4fbdbb72c48818967a22e1753db200b9ba89958ec4a9b55bb7ecd505876c2d', '\x7d5b87bc759e7a5a0899391d5759dba091097b982d9e9421f65629a3ba52b93a');
INSERT INTO public.audit VALUES (7, 1796411195, 'root (uid 0)', 'label', '/app/prod/db-password', 'previous -> 1', '\x7d5b87bc759e7a5a0899391d5759dba091097b982d9e9421f65629a3ba52b93a', '\x3bafa8ea26a4c2461927d573855190096090521fbc03580663ed56dac3ba7bf2');
INSERT INTO public.audit VALUES (8, 1796411195, 'root (uid 0)', 'key-create', 'app', 'version 1, aes-256', '\x3bafa8ea26a4c2461927d573855190096090521fbc03580663ed56dac3ba7bf2', '\xf20cb716e2dd3f2547b32934f5e3d23a6b07324febf74b429e5aef33ee5b08af');
INSERT INTO public.audit VALUES (9, 1796411195, 'root (uid 0)', 'put', '/app/prod/api-key', 'version 1, secure-string', '\xf20cb716e2dd3f2547b32934f5e3d23a6b07324febf74b429e5aef33ee5b08af', '\xfcc5a64fdaa81280763c13660d0b3349fe9ea07d20af13374cd123951edb3afa');
INSERT INTO public.audit VALUES (10, 1796411195, 'root (uid 0)', 'key-rotate', 'app', 'version 2 (was 1)', '\xfcc5a64fdaa81280763c13660d0b3349fe9ea07d20af13374cd123951edb3afa', '\xa44126b18123807cfd9c1ca5d80e91644f611501295727438a9173871166a234');
INSERT INTO public.audit VALUES (11, 1796411196, 'root (uid 0)', 'put', '/app/prod/api-key', 'version 2, secure-string', '\xa44126b18123807cfd9c1ca5d80e91644f611501295727438a9173871166a234', '\x73f70bdd991b6cb84b30322eaad460eb57717e6e2a5a23fcacdc6be575b9dfa4');
INSERT INTO public.audit VALUES (12, 1796411196, 'root (uid 0)', 'put', '/app/dev/old', 'version 1, secure-string', '\x73f70bdd991b6cb84b30322eaad460eb57717e6e2a5a23fcacdc6be575b9dfa4', '\x74e6cfee33d6e678bb0b952f7f94e73dbc5ef41f3abfeeb354cbe08891b91034');
INSERT INTO public.audit VALUES (13, 1796411196, 'root (uid 0)', 'rm', '/app/dev/old', 'latest version 1', '\x74e6cfee33d6e678bb0b952f7f94e73dbc5ef41f3abfeeb354cbe08891b91034', '\x00d6c3f856796ee1c041ce1bccc06f20a1a643a6dd64881e6f3ae309d260bb6b');
INSERT INTO public.audit VALUES (14, 1796411196, 'root (uid 0)', 'put', '/app/dev/destroyed', 'version 1, secure-string', '\x00d6c3f856796ee1c041ce1bccc06f20a1a643a6dd64881e6f3ae309d260bb6b', '\x2fbbe537d93cf69ccf3acbfb3532ec37836475276b8e5b83eede1c2ed439592f');
INSERT INTO public.audit VALUES (15, 1796411196, 'root (uid 0)', 'put', '/app/dev/destroyed', 'version 2, secure-string', '\x2fbbe537d93cf69ccf3acbfb3532ec37836475276b8e5b83eede1c2ed439592f', '\x42865bd6a54de7a7e5cde4b185d307a4669af5c2d847000be929b8b8effd3d2c');
INSERT INTO public.audit VALUES (16, 1796411196, 'root (uid 0)', 'destroy', '/app/dev/destroyed', 'version 1', '\x42865bd6a54de7a7e5cde4b185d307a4669af5c2d847000be929b8b8effd3d2c', '\x087b8749e087c6cbc7f9f0e3987ce5482178d7438e66004bc4d8e0ccdc057a9f');
INSERT INTO public.audit VALUES (17, 1796411196, 'root (uid 0)', 'put', '/app/dev/expiring', 'version 1, string', '\x087b8749e087c6cbc7f9f0e3987ce5482178d7438e66004bc4d8e0ccdc057a9f', '\xae5fd9ddc1d99cd48524fc6793d30e04a4e6b94411164f56a49c9dfcf425804f');
INSERT INTO public.audit VALUES (18, 1796411196, 'root (uid 0)', 'get-secure', '/app/prod/db-password', 'version 2', '\xae5fd9ddc1d99cd48524fc6793d30e04a4e6b94411164f56a49c9dfcf425804f', '\xf03a90032addd4a0547381f96e9a65500a1e4272921e0b193ce32e5edcd48c10');
INSERT INTO public.audit VALUES (19, 1796411196, 'root (uid 0)', 'key-retire', 'app', 'min decrypt version 2 (was 1)', '\xf03a90032addd4a0547381f96e9a65500a1e4272921e0b193ce32e5edcd48c10', '\x4f8cf2f7cef406b54ba8ad5edccf73f0e95cc1698b51e4de64be2db665c488ea');


--
-- Data for Name: key_versions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.key_versions VALUES ('params', 1, '\x22a8cebe5b4b40e79fab7e67180d0f06', 1796411195, '\x0a4e71ab49b1b229092bf47bdc363196d14a7fd9d21cfda754bbe559da00349f291edfcfa905c0c4f01477d4212eecc66ecac5cc5943167ec5b1d3e4', 'local:4622e6836cc11d72');
INSERT INTO public.key_versions VALUES ('app', 1, '\x3ff377c5237e4dbc968040f0c7eba4fc', 1796411195, '\x35233e477729b09584ebea2101ad7b37f06f328c8054ad9de4d8c13a1eb7478923f2226ba962e2b65683807bfe41afb79b194738244a006628199e46', 'local:4622e6836cc11d72');
INSERT INTO public.key_versions VALUES ('app', 2, '\x48710f4d660a4f5782908e60db80e934', 1796411195, '\x29b7bc33bf467438a9a1efabdd0da1299afeb8c4c9e01ca4c5670d905716469c4129d4a48b16c70c6be1612adfef3422ceaad74b5ddf389bd034860d', 'local:4622e6836cc11d72');


--
-- Data for Name: keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.keys VALUES ('params', 'aes-256', 1796411195, 'enabled', NULL, 1, 1);
INSERT INTO public.keys VALUES ('app', 'aes-256', 1796411195, 'enabled', NULL, 2, 2);


--
-- Data for Name: meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.meta VALUES ('schema', '3');
INSERT INTO public.meta VALUES ('created_at', '1796411195');
INSERT INTO public.meta VALUES ('root_id', 'local:4622e6836cc11d72');
INSERT INTO public.meta VALUES ('audit_count', '19');
INSERT INTO public.meta VALUES ('audit_head', '4f8cf2f7cef406b54ba8ad5edccf73f0e95cc1698b51e4de64be2db665c488ea');


--
-- Data for Name: param_labels; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.param_labels VALUES ('/app/dev/greeting', 'current', 2);
INSERT INTO public.param_labels VALUES ('/app/dev/list', 'current', 1);
INSERT INTO public.param_labels VALUES ('/app/prod/db-password', 'current', 2);
INSERT INTO public.param_labels VALUES ('/app/prod/db-password', 'previous', 1);
INSERT INTO public.param_labels VALUES ('/app/prod/api-key', 'current', 2);
INSERT INTO public.param_labels VALUES ('/app/dev/old', 'current', 1);
INSERT INTO public.param_labels VALUES ('/app/dev/destroyed', 'current', 2);
INSERT INTO public.param_labels VALUES ('/app/dev/expiring', 'current', 1);


--
-- Data for Name: param_rotations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: param_versions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.param_versions VALUES ('/app/dev/greeting', 1, 'string', '\x706c61696e2d6f6e65', NULL, NULL, '{}', 1796411195, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/dev/greeting', 2, 'string', '\x706c61696e2d74776f', NULL, NULL, '{}', 1796411195, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/dev/list', 1, 'string-list', '\x612c622c63', NULL, NULL, '{}', 1796411195, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/prod/db-password', 1, 'secure-string', '\x020478665b78e89b29d20e782c19ceb01695909ced7c7e2f85add9daebede36a44b96b003a0002000c636f666665723a706172616d00152f6170702f70726f642f64622d70617373776f7264000e636f666665723a76657273696f6e000131000100116177732d6b6d732d6869657261726368790006706172616d73005cf5a2fd8952ebb047d4600b11ef6ac2aeff933b87c4f721585893da7122a8cebe5b4b40e79fab7e67180d0f0605cc23f19cdf8b3a54b92ff6ae20f4fb382d04f13c0476434a3676ca46fd4543b7c837f9da69b74c78b886400c2f110c02000010000d9182b652ff46e0eb99e39de3dcd260b6a77257e338723de02c7b127c0f3a5d30c3cdd239dea6ed27a86dea58b1a165ffffffff00000001000000000000000000000001000000094ed8f14b8dac7d4ed069f187538c5f0a78781ab4d0f8586132', 'local:params', NULL, '{}', 1796411195, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/prod/db-password', 2, 'secure-string', '\x020478ef3fb528b16d2b0f905b7271799b316d72a358f2fcce942e918691311faade7c003a0002000c636f666665723a706172616d00152f6170702f70726f642f64622d70617373776f7264000e636f666665723a76657273696f6e000132000100116177732d6b6d732d6869657261726368790006706172616d73005c9fed72fe60ee0589ea7a97121140bca0bf3b877ca721bd0cd9cdc39e22a8cebe5b4b40e79fab7e67180d0f06b066065630902a6a8a7f5a0fdeb85e7aae251bbb82ab69a1909ecf9ec30bd631dca038280ecf3255a0b8555ff5eacf860200001000fdf938c18d546353716fd14f448a280326a79bc0cb6d79454d10972c713cb6e6a212c1c02b284df89eb8590bcfae1774ffffffff0000000100000000000000000000000100000009a1d8595bfb73b7ab02a3c52a80f0264d6471165e28f867b6fe', 'local:params', NULL, '{}', 1796411195, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/prod/api-key', 1, 'secure-string', '\x020478daa5a2cfdb3286c0e034bcc8ceb631b6bd85aa742f105b7dbdb9a99183640fcd00360002000c636f666665723a706172616d00112f6170702f70726f642f6170692d6b6579000e636f666665723a76657273696f6e000131000100116177732d6b6d732d6869657261726368790003617070005ca7612596f279bf600922732a7644b534e636cc7e5f46352290cc59723ff377c5237e4dbc968040f0c7eba4fc07bc3bfee8810cacc733ea74f3c595c074b4e546b417a844dee117b4cb97c71a2e14e87b44018f6b6cf7d7eaecf0bef302000010004808573bbd94d7124803c489f758cad8cde7988c9ad8b0ad7885520cd7d2cffb5a1ed7ab4c349ec0beac68ff9a8bd579ffffffff0000000100000000000000000000000100000009f28c032e605c34b517a1d3c5a30f8f9cc29a1e0c68479862a7', 'local:app', NULL, '{}', 1796411195, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/prod/api-key', 2, 'secure-string', '\x02047833b1837eb01f10fcb479e21467c1c50ab1829d3f91ed04c710e7f68c2445e20800360002000c636f666665723a706172616d00112f6170702f70726f642f6170692d6b6579000e636f666665723a76657273696f6e000132000100116177732d6b6d732d6869657261726368790003617070005c5adda888afb187acc5ad6d4cb2a8024cb31c0c0cfe4708340181db0748710f4d660a4f5782908e60db80e934980d6222145f559be856424a3b0d59e366c6c4fd76029ff70784e4af23f6b60c80fd31a9a033434f4ea8b96608c2fc0c02000010005f184d74cd5fed6d1910ab430023236cb60493c372f773d1ba527cc8abf6333a9d44cd1276ba93ea2c6c377500511da1ffffffff000000010000000000000000000000010000000b351e7eb06ec4c018cd2b9a21a9a8d18ebbb254f844eb5bf0bbd8e4', 'local:app', NULL, '{}', 1796411196, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/dev/old', 1, 'secure-string', '\x0204787f56c9ca3d8ad573ebf5fa639aa51876f0e2e54812bb5607e8d2d444095a85b600310002000c636f666665723a706172616d000c2f6170702f6465762f6f6c64000e636f666665723a76657273696f6e000131000100116177732d6b6d732d6869657261726368790006706172616d73005cfe8e4d651c6be9284ecf5c5135323c6baa2c372da2cf23a35dae771e22a8cebe5b4b40e79fab7e67180d0f06c5daec9943e4f6cdccce2de098d1a5c95632d95dd71f22e73d9a2299bc30c7446195c823c74155e1f3b8dcc9e21c2ff20200001000d828a0702fc752f434d88f65abae30999c77300df51aaa11ed4212b3f75a2ec8e79606ca8bb32472fc37d580ef9655fdffffffff00000001000000000000000000000001000000040137528bfc8adb8f439cba35c81154998904ad72', 'local:params', NULL, '{}', 1796411196, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/dev/destroyed', 2, 'secure-string', '\x020478d30d1c9831ec2e82114240ce4a460d360ba1c9cd70ad07f57d9b7a33dd6d73b500370002000c636f666665723a706172616d00122f6170702f6465762f64657374726f796564000e636f666665723a76657273696f6e000132000100116177732d6b6d732d6869657261726368790006706172616d73005c2a90d7a35ced0d0263c1f20bf69346be1d396f55e50121192a1a466822a8cebe5b4b40e79fab7e67180d0f06144d38db1006156e7323038835ccb62d71a15a3b6822c4992aa6a24e7843fe8ae27ca6b27365bdc472ea1868f95b5227020000100079d9106df1d9a50700e7092cb3466221d30a8db5e5942169f28541af89508b9dcb5e8f241de4031f63a6be6658002502ffffffff000000010000000000000000000000010000000228f258a3c9dcde9585d2790706fa3f975467', 'local:params', NULL, '{}', 1796411196, 'root (uid 0)', NULL, NULL);
INSERT INTO public.param_versions VALUES ('/app/dev/destroyed', 1, 'secure-string', NULL, 'local:params', NULL, '{}', 1796411196, 'root (uid 0)', NULL, 1796411196);
INSERT INTO public.param_versions VALUES ('/app/dev/expiring', 1, 'string', '\x657870', NULL, NULL, '{}', 1796411196, 'root (uid 0)', 4070908800, NULL);


--
-- Data for Name: params; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.params VALUES ('/app/dev/greeting', '/app/dev', 2, 1796411195, NULL);
INSERT INTO public.params VALUES ('/app/dev/list', '/app/dev', 1, 1796411195, NULL);
INSERT INTO public.params VALUES ('/app/prod/db-password', '/app/prod', 2, 1796411195, NULL);
INSERT INTO public.params VALUES ('/app/prod/api-key', '/app/prod', 2, 1796411195, NULL);
INSERT INTO public.params VALUES ('/app/dev/old', '/app/dev', 1, 1796411196, 1796411196);
INSERT INTO public.params VALUES ('/app/dev/destroyed', '/app/dev', 2, 1796411196, NULL);
INSERT INTO public.params VALUES ('/app/dev/expiring', '/app/dev', 1, 1796411196, NULL);


--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (seq);


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
-- Name: param_labels_by_version; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX param_labels_by_version ON public.param_labels USING btree (name, version);


--
-- Name: params_by_parent; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX params_by_parent ON public.params USING btree (parent, name);


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
-- PostgreSQL database dump complete
--


