// A mini-program's and a merchant tool's calls, typed by the client generated from the API's
// OpenAPI document (docs/api.md):
//   npx openapi-typescript http://127.0.0.1:8000/v1/openapi.json -o yundian-api.d.ts
// tests/integration/test_openapi_client.py compiles this file against the document with tsc --strict.
import createClient from "openapi-fetch";
import type { components, paths } from "./yundian-api";

export type StorePage = components["schemas"]["StorePage"];
export type ApiError = components["schemas"]["Error"];

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });

/** The public cloud-store page a QR stand opens: the shop and its membership plans. */
export async function storePage(storeId: string): Promise<StorePage> {
  const { data, error } = await api.GET("/v1/stores/{store_id}", { params: { path: { store_id: storeId } } });
  if (error) throw new Error(`${error.code}: ${error.message}`);
  return data;
}

/** The cheapest plan's fee in yuan (money is integer fen on the wire). */
export function cheapestFeeYuan(page: StorePage): string | null {
  const fees = page.plans.map((plan) => plan.fee_fen);
  return fees.length ? (Math.min(...fees) / 100).toFixed(2) : null;
}

/** A customer locks a plan's fee; retried with the same Idempotency-Key it answers the first result. */
export async function lockIn(customerToken: string, planId: string, idempotencyKey: string): Promise<string> {
  const { data, error, response } = await api.POST("/v1/memberships", {
    params: { header: { "Idempotency-Key": idempotencyKey } },
    headers: { Authorization: `Bearer ${customerToken}` },
    body: { plan_id: planId },
  });
  if (error) throw new Error(`${response.status} ${error.code}: ${error.message}`);
  return data.membership_id;
}

/** A merchant's day: takings in yuan and active members. */
export async function today(merchantToken: string, merchantId: string): Promise<string> {
  const { data, error } = await api.GET("/v1/merchants/{merchant_id}/dashboard", {
    params: { path: { merchant_id: merchantId } },
    headers: { Authorization: `Bearer ${merchantToken}` },
  });
  if (error) throw new Error(`${error.code}: ${error.message}`);
  return `${data.date}: ${(data.day.gmv_fen / 100).toFixed(2)} yuan, ${data.day.payments} payments, `
    + `${data.members.active} active members`;
}
