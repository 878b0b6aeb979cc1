-- Transitions whose notification is due. A group commit adds its applied transitions here,
-- in the transitions' own transaction, and queues one `notify` job to drain them unless the
-- one it queued last still waits for a worker; the job creates the deliveries and deletes
-- the rows it took in one transaction. Before this, the batch lived in the job's payload and
-- each commit edited that JSON in place.
create table pending_notifications (
    transition_id bigint primary key
);
