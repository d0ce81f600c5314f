CREATE TABLE "lease_order" (
	"runtime_id" text PRIMARY KEY NOT NULL,
	"incarnation" bigint DEFAULT 0 NOT NULL,
	"seq" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "login_failures" (
	"key" text PRIMARY KEY NOT NULL,
	"count" integer NOT NULL,
	"since" bigint NOT NULL,
	"told" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE "panel_alerts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "panel_alerts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"created_at" bigint NOT NULL,
	"kind" text NOT NULL,
	"budget_id" text NOT NULL,
	"message" text NOT NULL,
	"data" text NOT NULL,
	"sent_at" bigint,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "panel_feed" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "panel_feed_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"at" bigint NOT NULL,
	"origin" text NOT NULL,
	"frames" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "panel_replicas" (
	"id" text PRIMARY KEY NOT NULL,
	"started_at" bigint NOT NULL,
	"seen_at" bigint NOT NULL,
	"version" text NOT NULL,
	"url" text NOT NULL,
	"draining" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE INDEX "panel_alerts_pending" ON "panel_alerts" USING btree ("id") WHERE sent_at is null;--> statement-breakpoint
CREATE INDEX "panel_feed_at" ON "panel_feed" USING btree ("at");