/* The lock at scale (docs/model/README.md): K Leases claimed by compare-and-swap, one ticket object
   per waiter in the queue's namespace (Lease 0's), wake one waiter per handoff, hand off in two
   writes.

   - A waiter that sees a live ticket earlier than its own watches only its predecessor's ticket
     (the latest earlier one), as etcd's concurrency.Mutex watches the key just before its own.
   - The head (no live earlier ticket) watches the Leases it lacks, from what it saw; when it must
     wait and has no ticket yet, it queues first (creates its ticket, then looks again).
   - The head claims every free Lease straight to held (one write each, in parallel) and, in the
     same round, lists the queue's tickets again; it enters when it has every Lease and saw no live
     earlier ticket, else an earlier stamp wins: it yields what it claimed.
   - The fencing epoch travels in the Lease. A release clears the Lease but keeps the epoch; the
     next holder takes epoch + 1 and stamps the state only when some Lease was taken from an expired
     holder since the last stamp (stampNeeded). Every state write is accepted only with an epoch at
     least the stamped one, and raises it to the writer's epoch.
   Stamp order = process id (0 earliest); start order is free. Crashes model a process that dies
   or pauses past its lease: its Lease claims and tickets expire; a holder paused in the critical
   section may still try to write afterwards (fencing must refuse it).

   Sabotages (check.sh expects each to FAIL):
     SABOTAGE_LATE_WATCH   a watch resumes from a later revision than the decision's read;
     SABOTAGE_HOLDER_ONLY  a queued waiter watches the Lease holders, not its predecessor;
     SABOTAGE_NO_STAMP     taking over an expired holder does not mark the Lease stampNeeded. */
#ifndef N
#define N 3            /* contenders (2 or 3) */
#endif
#ifndef MAXCRASH
#define MAXCRASH 1     /* crashes or pauses in a run */
#endif
#define K 2
#define ALL 3      /* every lease: (1 << K) - 1 */
#define NONE 255

byte holder[K];        /* who holds Lease l (a claimer or the holder), or NONE */
byte lepoch[K];        /* the epoch recorded in Lease l (kept when released) */
bool stampNeeded[K];   /* Lease l was taken from an expired holder since the last stamp */
byte tickets[K];       /* bitmask: ticket objects of waiters in the namespace of Lease l (this
                          protocol writes them in Lease 0's only; a look reads every one) */
bool crashed[N];       /* dead or paused past its lease: its claims and tickets have expired */
byte stateEpoch = 0;   /* the fencing epoch stamped in the state copies */
byte inCS = 0;         /* valid holders inside the critical section */
byte lastIn = NONE;    /* the holder that entered the critical section last */
byte visibleAtFree = 0;/* live waiters with a ticket in the queue when the lock last became free */
byte crashes = 0;

/* adds to `earlier` the live tickets earlier than mine in the bitmask t */
inline LIVE_EARLIER(t) {
  q = 0;
  do :: q < me -> if :: ((t >> q) & 1) && !crashed[q] -> earlier = earlier | (1 << q) :: else fi; q++
     :: else -> break od;
  q = 0; t = 0
}

/* forgets the look's snapshot where it is dead (the next look overwrites it): a stale copy would
   only split one state into many for the checker */
inline FORGET_LOOK() {
  d_step { sh[0] = 0; sh[1] = 0; se[0] = 0; se[1] = 0; sn[0] = false; sn[1] = false; st[0] = 0; st[1] = 0 }
}

proctype P(byte me) {
  byte l, q, e, myEpoch, claimed, acts, seenT, earlier, pred;
  byte sh[K]; byte se[K]; bool sn[K]; byte st[K]; byte prevE[K];
  bool queued, present;

look:
  /* one look at every Lease with its tickets: the head's open watches (resumed, never re-listed),
     or a GET and a LIST per namespace for a newcomer; taken as one snapshot */
  atomic {
    sh[0] = holder[0]; se[0] = lepoch[0]; sn[0] = stampNeeded[0]; st[0] = tickets[0];
    sh[1] = holder[1]; se[1] = lepoch[1]; sn[1] = stampNeeded[1]; st[1] = tickets[1]
  };
  /* live tickets earlier than mine, and the earliest live other holder of a Lease */
  skip;
  d_step {
    earlier = 0; q = 0;
    do :: q < me -> if :: (((st[0] | st[1]) >> q) & 1) && !crashed[q] -> earlier = earlier | (1 << q) :: else fi; q++
       :: else -> break od;
    l = 0; q = NONE;
    do :: l < K -> if :: sh[l] != me && sh[l] != NONE && !crashed[sh[l]] -> if :: q == NONE || sh[l] < q -> q = sh[l] :: else fi :: else fi; l++
       :: else -> break od;
    l = 0
  }
  if
  :: earlier != 0 -> q = 0; goto behind
  :: earlier == 0 && q == NONE -> goto round      /* the head (or nobody waits), every Lease free */
  :: earlier == 0 && q != NONE && q < me && claimed != 0 -> q = 0; goto yield   /* an earlier claimer wins */
  :: else -> q = 0
  fi;
  /* a head that must wait queues first, so that every waiter that waits is visible and FIFO covers it */
  if :: !queued -> goto queue :: else fi;
  /* wait on the Leases I lack: any change from what I saw, or their holder's expiry */
  st[0] = 0; st[1] = 0;
#ifdef SABOTAGE_LATE_WATCH
  atomic { l = 0; do :: l < K -> if :: sh[l] != me -> sh[l] = holder[l]; se[l] = lepoch[l]; sn[l] = stampNeeded[l] :: else fi; l++ :: else -> break od }
#endif
  if
  :: crashes < MAXCRASH -> atomic { crashed[me] = true; crashes++ }; goto dead
  :: atomic {
       (sh[0] != me && (holder[0] != sh[0] || lepoch[0] != se[0] || stampNeeded[0] != sn[0] || sh[0] != NONE && crashed[sh[0]])) ||
       (sh[1] != me && (holder[1] != sh[1] || lepoch[1] != se[1] || stampNeeded[1] != sn[1] || sh[1] != NONE && crashed[sh[1]]))
     } -> earlier = 0; goto look
  fi;

behind:
  /* someone earlier waits: give back what I claimed, be visible, watch my predecessor only */
  if :: claimed != 0 -> goto yield :: else fi;
  if :: !queued -> goto queue :: else fi;
  d_step {
    pred = 0; q = 0;
    do :: q < me -> if :: (earlier >> q) & 1 -> pred = q :: else fi; q++ :: else -> break od;
    q = 0; earlier = 0
  }
#ifdef SABOTAGE_HOLDER_ONLY
  /* watches the Lease holders instead of its predecessor's ticket */
  if
  :: crashes < MAXCRASH -> atomic { crashed[me] = true; crashes++ }; goto dead
  :: atomic {
       (holder[0] != sh[0] || sh[0] != NONE && crashed[sh[0]]) ||
       (holder[1] != sh[1] || sh[1] != NONE && crashed[sh[1]])
     } -> pred = 0; goto look
  fi;
#else
  FORGET_LOOK();
  present = true;   /* the look saw its ticket: the watch starts from that read */
#ifdef SABOTAGE_LATE_WATCH
  present = (tickets[0] >> pred) & 1;
#endif
  if
  :: crashes < MAXCRASH -> atomic { crashed[me] = true; crashes++ }; goto dead
  :: atomic { ((tickets[0] >> pred) & 1) != present || crashed[pred] } -> pred = 0; present = false; goto look
  fi;
#endif

round:
  /* claim every Lease I lack straight to held, carrying epoch + 1, and list the queue's tickets
     again, all in parallel (any order); every Lease was seen free before any of these is sent */
  e = (se[0] > se[1] -> se[0] : se[1]) + 1;
  do
  :: acts == 15 -> acts = 0; e = 0; break
  :: !(acts & 1) ->
     atomic {
       if
       :: sh[0] == me -> skip
       :: sh[0] != me && holder[0] == sh[0] && lepoch[0] == se[0] && stampNeeded[0] == sn[0] ->
          prevE[0] = lepoch[0];
#ifndef SABOTAGE_NO_STAMP
          stampNeeded[0] = stampNeeded[0] || holder[0] != NONE;   /* taken from an expired holder */
#endif
          holder[0] = me; lepoch[0] = e; claimed = claimed | 1
       :: else -> skip   /* 409: it changed since the look */
       fi;
       acts = acts | 1
     }
  :: !(acts & 2) ->
     atomic {
       if
       :: sh[1] == me -> skip
       :: sh[1] != me && holder[1] == sh[1] && lepoch[1] == se[1] && stampNeeded[1] == sn[1] ->
          prevE[1] = lepoch[1];
#ifndef SABOTAGE_NO_STAMP
          stampNeeded[1] = stampNeeded[1] || holder[1] != NONE;
#endif
          holder[1] = me; lepoch[1] = e; claimed = claimed | 2
       :: else -> skip
       fi;
       acts = acts | 2
     }
  :: !(acts & 4) -> d_step { seenT = tickets[0]; LIVE_EARLIER(seenT); acts = acts | 12 }
  :: crashes < MAXCRASH -> atomic { crashed[me] = true; crashes++ }; goto dead
  od;
  if
  :: earlier != 0 -> goto behind    /* an earlier live waiter: it goes first */
  :: earlier == 0 && claimed == ALL -> goto held
  :: else -> goto look
  fi;

yield:
  /* release my claims, restoring each Lease's epoch; stampNeeded stays */
  acts = 0;
  FORGET_LOOK();
  do
  :: acts == ALL -> acts = 0; break
  :: !(acts & 1) -> atomic { if :: (claimed & 1) && holder[0] == me -> holder[0] = NONE; lepoch[0] = prevE[0] :: else fi; acts = acts | 1 }
  :: !(acts & 2) -> atomic { if :: (claimed & 2) && holder[1] == me -> holder[1] = NONE; lepoch[1] = prevE[1] :: else fi; acts = acts | 2 }
  od;
  claimed = 0; prevE[0] = 0; prevE[1] = 0;
  if :: queued -> goto look :: else fi;

queue:
  /* create my ticket in the queue's namespace, then look again, as etcd reads after its put */
  FORGET_LOOK();
  tickets[0] = tickets[0] | (1 << me);
  queued = true;
  goto look;

held:
  atomic {
    myEpoch = (lepoch[0] > lepoch[1] -> lepoch[0] : lepoch[1]);
    /* epochs never go back */
    assert(myEpoch > stateEpoch);
    if
    :: stampNeeded[0] || stampNeeded[1] -> stateEpoch = myEpoch   /* the stamp, before going */
    :: else
    fi;
    inCS++; lastIn = me;
    /* FIFO: no earlier live waiter that was in the queue when the lock became free is overtaken */
    q = 0;
    do :: q < me -> assert(!(((visibleAtFree >> q) & 1) && !crashed[q])); q++ :: else -> break od;
    visibleAtFree = 0;
    q = 0; claimed = 0; prevE[0] = 0; prevE[1] = 0;
    sh[0] = 0; sh[1] = 0; se[0] = 0; se[1] = 0; sn[0] = false; sn[1] = false; st[0] = 0; st[1] = 0
  };
  /* delete my ticket: this wakes my successor, which becomes the head */
  if
  :: queued -> tickets[0] = tickets[0] & ~(1 << me)
  :: else
  fi;
progress:
  assert(inCS == 1);
  if
  :: atomic { crashes < MAXCRASH -> crashed[me] = true; crashes++; inCS-- };
     /* paused past its lease, it wakes up and writes: fencing must refuse it if anyone took over */
     atomic { if :: myEpoch >= stateEpoch -> assert(lastIn == me); stateEpoch = myEpoch :: else fi };
     goto dead
  :: atomic { assert(myEpoch >= stateEpoch); stateEpoch = myEpoch; assert(lastIn == me) }
  fi;
  inCS--;
  /* release: clear each Lease (in parallel, any order), keeping its epoch */
  acts = 0;
  do
  :: acts == ALL -> acts = 0; break
  :: !(acts & 1) -> atomic { holder[0] = NONE; stampNeeded[0] = false; acts = acts | 1;
                             if :: acts == ALL -> visibleAtFree = tickets[0] :: else fi }
  :: !(acts & 2) -> atomic { holder[1] = NONE; stampNeeded[1] = false; acts = acts | 2;
                             if :: acts == ALL -> visibleAtFree = tickets[0] :: else fi }
  od;
dead:
  /* nothing of a dead process matters any more: forget it all, for the same reason */
  atomic {
    l = 0; q = 0; e = 0; myEpoch = 0; claimed = 0; acts = 0; seenT = 0; earlier = 0; pred = 0;
    prevE[0] = 0; prevE[1] = 0; queued = false; present = false;
    FORGET_LOOK()
  }
}

init {
  byte i;
  atomic {
    i = 0; do :: i < K -> holder[i] = NONE; i++ :: else -> break od;
    run P(0); run P(1);
    if :: N > 2 -> run P(2) :: else fi
  }
}
