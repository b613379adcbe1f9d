/**
 * Invitations. On a project page the owner invites by username or e-mail with a role, and sees the
 * invitations still pending (with Revoke); while any are pending the panel asks the server again every few
 * seconds and when the tab comes back into view, so the members list refreshes once a colleague accepts. On
 * the project list every user sees the invitations addressed to them, with Accept and Decline.
 */

import { Api, ApiError } from "../api";
import { h } from "../ui/dom";

export interface Invitation {
  id: number;
  project: number;
  project_name: string;
  username: string | null;
  email: string;
  role: string;
  state: "pending" | "accepted" | "declined" | "revoked";
  invited_by: string | null;
  created_at: string;
  /** e-mail invitations of someone without an account: when the join link stops working */
  expires_at?: string | null;
  /** the join link, shown to the project's owners (there may be no mail server to send it) */
  link?: string | null;
}

export const ROLES: { value: string; label: string }[] = [
  { value: "annotator", label: "Annotator" },
  { value: "reviewer", label: "Reviewer" },
  { value: "owner", label: "Owner" },
];

export const inviteEndpoints = {
  project: (projectId: number) => `/api/projects/${projectId}/invitations/`,
  revoke: (projectId: number, id: number) => `/api/projects/${projectId}/invitations/${id}/`,
  mine: () => `/api/invitations/`,
  accept: (id: number) => `/api/invitations/${id}/accept/`,
  decline: (id: number) => `/api/invitations/${id}/decline/`,
};

export function pending(list: Invitation[]): Invitation[] {
  return list.filter((i) => i.state === "pending");
}

/** Who was invited: the account, else the e-mail address. */
export function invitee(invitation: Invitation): string {
  return invitation.username ?? invitation.email;
}

/** Whether an invitation that was pending has been answered (or revoked) since: the members may have changed. */
export function answeredSince(before: Invitation[], now: Invitation[]): boolean {
  const still = new Set(pending(now).map((i) => i.id));
  return pending(before).some((i) => !still.has(i.id));
}

/** What the owner reads after inviting someone: where they will find it, or the link to pass on. */
export function invitedText(made: Invitation): string {
  if (made.link) return `Invited ${invitee(made)} as ${made.role}. A join link was e-mailed; if no mail arrives, send them this link: ${made.link}`;
  return `Invited ${invitee(made)} as ${made.role}. They will see it on their project list.`;
}

export function inviteCheck(value: string): string | null {
  const v = value.trim();
  if (!v) return "Enter a username or an e-mail address.";
  if (v.includes("@") && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v)) return `${JSON.stringify(v)} is not an e-mail address.`;
  return null;
}

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : `Something went wrong: ${(error as Error).message}`;
}

/** The owner's card: invite form and pending invitations. onMembersChanged runs when one was answered. */
export function mountInvitePanel(
  projectId: number,
  onMembersChanged: () => void,
  api: Api = new Api(),
  pollMs = 5000,
): { element: HTMLElement; dispose: () => void } {
  const who = h("input", { name: "invitee", placeholder: "Username or e-mail", "aria-label": "Username or e-mail of the person to invite", autocomplete: "off" });
  const role = h("select", { name: "role", "aria-label": "Their role" }, ...ROLES.map((r) => h("option", { value: r.value }, r.label)));
  const submit = h("button", { type: "submit", class: "primary" }, "Invite");
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const list = h("div", { class: "invitation-list" });
  let known: Invitation[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let disposed = false;

  const render = (items: Invitation[]) => {
    const open = pending(items);
    list.replaceChildren(
      ...(open.length
        ? [
            h("h3", {}, "Pending invitations"),
            ...open.map((i) => {
              const revoke = h("button", { type: "button", class: "link-button" }, "Revoke");
              revoke.addEventListener("click", async () => {
                revoke.disabled = true;
                try {
                  await api.json(inviteEndpoints.revoke(projectId, i.id), { method: "DELETE" });
                  await refresh();
                } catch (error) {
                  status.className = "form-status error";
                  status.textContent = message(error);
                  revoke.disabled = false;
                }
              });
              const link = i.link ? h("input", { class: "join-link", readonly: true, value: i.link, "aria-label": `Join link for ${invitee(i)}` }) : null;
              return h("div", { class: "invitation", "data-invitation-id": i.id }, h("span", {}, invitee(i)), h("span", { class: "muted" }, ` · ${i.role}`), " ", revoke, link);
            }),
          ]
        : []),
    );
  };

  const schedule = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (!disposed && pending(known).length) timer = setTimeout(() => void refresh(), pollMs);
  };

  async function refresh(): Promise<void> {
    try {
      const now = await api.get<Invitation[]>(inviteEndpoints.project(projectId));
      const changed = answeredSince(known, now);
      known = now;
      render(now);
      if (changed) onMembersChanged();
    } catch {
      /* a blip: the next refresh tries again */
    }
    schedule();
  }

  const form = h(
    "form",
    { class: "invite-form", novalidate: true },
    who,
    role,
    submit,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const problem = inviteCheck(who.value);
    if (problem) {
      status.className = "form-status error";
      status.textContent = problem;
      return;
    }
    submit.disabled = true;
    status.className = "form-status muted";
    status.textContent = "Inviting…";
    try {
      const made = await api.post<Invitation>(inviteEndpoints.project(projectId), { invitee: who.value.trim(), role: role.value });
      status.textContent = invitedText(made);
      who.value = "";
      await refresh();
    } catch (error) {
      status.className = "form-status error";
      status.textContent = message(error);
    } finally {
      submit.disabled = false;
    }
  });
  const onVisible = () => {
    if (document.visibilityState === "visible") void refresh();
  };
  document.addEventListener("visibilitychange", onVisible);
  void refresh();
  return {
    element: h("section", { class: "card invite-panel" }, h("h2", {}, "Invite a colleague"), form, status, list),
    dispose: () => {
      disposed = true;
      if (timer !== null) clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    },
  };
}

/** The current user's pending invitations, with Accept and Decline; hidden when there are none. */
export function mountMyInvitations(onAccepted: (invitation: Invitation) => void, api: Api = new Api()): { element: HTMLElement; refresh: () => Promise<void> } {
  const list = h("div", { class: "invitation-list" });
  const element = h("section", { class: "card my-invitations", hidden: true }, h("h2", {}, "Invitations"), list);

  const row = (i: Invitation): HTMLElement => {
    const accept = h("button", { type: "button", class: "primary accept" }, "Accept");
    const decline = h("button", { type: "button", class: "decline" }, "Decline");
    const note = h("span", { class: "form-status" });
    const el = h(
      "div",
      { class: "invitation", "data-invitation-id": i.id },
      h("span", {}, h("strong", {}, i.project_name), i.invited_by ? ` · ${i.invited_by} invited you as ${i.role}` : ` · as ${i.role}`),
      h("span", { class: "invitation-actions" }, accept, decline),
      note,
    );
    const answer = async (yes: boolean) => {
      accept.disabled = decline.disabled = true;
      try {
        await api.post(yes ? inviteEndpoints.accept(i.id) : inviteEndpoints.decline(i.id), {});
        el.remove();
        element.hidden = !list.querySelector(".invitation");
        if (yes) onAccepted(i);
      } catch (error) {
        note.className = "form-status error";
        note.textContent = message(error);
        accept.disabled = decline.disabled = false;
      }
    };
    accept.addEventListener("click", () => void answer(true));
    decline.addEventListener("click", () => void answer(false));
    return el;
  };

  const refresh = async () => {
    try {
      const mine = pending(await api.get<Invitation[]>(inviteEndpoints.mine()));
      list.replaceChildren(...mine.map(row));
      element.hidden = mine.length === 0;
    } catch (error) {
      list.replaceChildren(h("p", { class: "error" }, `Your invitations could not be loaded: ${message(error)}`));
      element.hidden = false;
    }
  };
  void refresh();
  return { element, refresh };
}
