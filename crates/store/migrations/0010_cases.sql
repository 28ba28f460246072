-- Efir 0010: cases and tasks of the back office (connection requests,
-- support tickets, payment disputes, set-top-box swaps and operator-defined
-- types), their transition log, comments, attachments, tasks with
-- reminders and the staff's in-app notifications.

-- The manager a staff user's overdue cases escalate to.
ALTER TABLE staff_user ADD COLUMN manager_id BIGINT REFERENCES staff_user (id) ON DELETE SET NULL;

-- One case ("card"). Times are Unix seconds. `due_at` moves forward by the
-- time spent in waiting states (`paused_since` .. leaving), summed in
-- `paused_total`. `escalated_level`: 0 none, 1 owner told, 2 manager told.
CREATE TABLE case_item (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    case_type TEXT NOT NULL,
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    customer_id BIGINT REFERENCES customer (id) ON DELETE SET NULL,
    account_id BIGINT REFERENCES account (id) ON DELETE SET NULL,
    owner_id BIGINT REFERENCES staff_user (id) ON DELETE SET NULL,
    author TEXT NOT NULL,
    priority TEXT NOT NULL DEFAULT 'normal',
    box_serial TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    due_at BIGINT,
    paused_since BIGINT,
    paused_total BIGINT NOT NULL DEFAULT 0,
    closed BOOLEAN NOT NULL DEFAULT FALSE,
    closed_at BIGINT,
    escalated_level BIGINT NOT NULL DEFAULT 0,
    deleted BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX case_item_client_idx ON case_item (client_id, deleted, state);
CREATE INDEX case_item_due_idx ON case_item (closed, due_at);
CREATE INDEX case_item_owner_idx ON case_item (owner_id);

-- Who moved a case from which state to which, when, and why.
CREATE TABLE case_transition (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES case_item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX case_transition_case_idx ON case_transition (case_id, id);

CREATE TABLE case_comment (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES case_item (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX case_comment_case_idx ON case_comment (case_id, id);

-- A file stored as `<data_dir>/attachments/<client>/<case>/<stored_name>`;
-- `file_name` is the uploader's name, kept only for display.
CREATE TABLE case_attachment (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES case_item (id) ON DELETE CASCADE,
    stored_name TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    author TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX case_attachment_case_idx ON case_attachment (case_id, id);

-- A task on a case; `reminded_at` is set in the transaction that creates
-- the reminder notification, so each reminder fires once.
CREATE TABLE case_task (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES case_item (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    assignee_id BIGINT REFERENCES staff_user (id) ON DELETE SET NULL,
    deadline BIGINT,
    remind_at BIGINT,
    reminded_at BIGINT,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    done_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX case_task_case_idx ON case_task (case_id);
CREATE INDEX case_task_remind_idx ON case_task (done, reminded_at, remind_at);

-- In-app notifications for staff users (reminders, escalations).
CREATE TABLE staff_notification (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES staff_user (id) ON DELETE CASCADE,
    case_id BIGINT REFERENCES case_item (id) ON DELETE CASCADE,
    task_id BIGINT REFERENCES case_task (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX staff_notification_user_idx ON staff_notification (user_id, read_at, id);
