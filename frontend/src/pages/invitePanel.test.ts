import { describe, expect, it } from "vitest";
import { answeredSince, type Invitation, invitee, inviteCheck, pending } from "./invitePanel";

function inv(id: number, state: Invitation["state"], extra: Partial<Invitation> = {}): Invitation {
  return { id, project: 1, project_name: "P", username: `u${id}`, email: "", role: "annotator", state, invited_by: "olivia", created_at: "", ...extra };
}

describe("invitations", () => {
  it("keeps only pending ones", () => {
    expect(pending([inv(1, "pending"), inv(2, "accepted"), inv(3, "declined"), inv(4, "pending")]).map((i) => i.id)).toEqual([1, 4]);
  });

  it("notices an invitation answered since the last look (the members may have changed)", () => {
    const before = [inv(1, "pending"), inv(2, "pending")];
    expect(answeredSince(before, [inv(1, "pending"), inv(2, "pending"), inv(3, "pending")])).toBe(false);
    expect(answeredSince(before, [inv(1, "accepted"), inv(2, "pending")])).toBe(true);
    expect(answeredSince(before, [inv(2, "pending")])).toBe(true); // gone from the list
    expect(answeredSince([], [inv(1, "accepted")])).toBe(false);
  });

  it("names the invitee by account, else by e-mail", () => {
    expect(invitee(inv(1, "pending"))).toBe("u1");
    expect(invitee(inv(2, "pending", { username: null, email: "p@x.org" }))).toBe("p@x.org");
  });

  it("checks the invitee field before sending", () => {
    expect(inviteCheck("  ")).toBe("Enter a username or an e-mail address.");
    expect(inviteCheck("pablo")).toBeNull();
    expect(inviteCheck("pablo@example.org")).toBeNull();
    expect(inviteCheck("pablo@")).toBe('"pablo@" is not an e-mail address.');
  });
});
