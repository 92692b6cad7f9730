// A mini-program page as a team would write it against miniapp-client.d.ts: type-checked by
// `make contract` (`tsc --noEmit -p tests/ts/tsconfig.sdk.json`), never run. Every
// export is used, so a declaration that drifts from what a page needs fails here.
import api = require('../../miniapp_api/static/miniapp-client');

declare const wx: unknown;
declare function show(fields: { [key: string]: unknown }): void;

let kept: string | null = null;

const client: api.Client = api.createClient({
  adapter: api.fromWx(wx),
  baseUrl: 'https://api.example.cn',
  token: () => kept,
  onToken: (token) => {
    kept = token;
  },
  platformCode: () => api.wxLoginCode(wx),
  language: 'zh',
  timeout: 5000,
  offlineAfter: 2000,
  maxQueueWaitSeconds: 120,
  retryBudget: { ratio: 0.1, minRetries: 3 },
  log: (line) => show({ line }),
});

// The alternative re-login hook: a page that logs in its own way.
const english: api.Language = 'en';
const other: api.Client = api.createClient({
  adapter: api.fromMy(wx),
  language: english,
  baseUrl: 'https://api.example.cn',
  relogin: async () => {
    const code = await api.myAuthCode(wx);
    const body = await client.login<{ token: string }>(code);
    return body.token;
  },
  retryBudget: api.createRetryBudget({ ratio: 0.2 }),
});

interface ResultsBody {
  items: { resident_id: string; status: string }[];
}

async function codeScreen(residentId: string): Promise<void> {
  const saved: api.Code | null = client.cachedCode(residentId);
  if (saved) show({ code: saved, matrix: client.qrMatrix(saved.token) });
  try {
    const answer: api.CodeAnswer = await client.getCode(residentId);
    const matrix: boolean[][] = client.qrMatrix(answer.code.token);
    const canvas: api.CanvasLike = { fillStyle: '', fillRect: () => undefined, draw: () => undefined };
    api.drawQr(canvas, matrix, { size: 240, margin: 4 });
    show({ offline: answer.offline, image: answer.code.image_url, name: answer.code.name_masked });
    if (answer.error) show({ requestId: answer.error.requestId });
  } catch (err) {
    if (err instanceof api.ApiError) {
      const items: api.AlternativeItem[] = client.alternativesView(err, { cachedCode: err.cachedCode });
      const options: api.AlternativesOptions = { language: other.language, now: () => Date.now() };
      for (const item of items.concat(api.alternativesView(err, options))) {
        if (item.action && item.action.type === 'show_code') show({ token: item.action.code.token });
      }
    }
  }
}

async function profile(): Promise<void> {
  try {
    await client.putProfile(
      { name: '张三', id_type: 'cn_id', id_number: '110101199003074514' },
      { onQueue: (place: api.QueuePlace) => show({ position: place.position, wait: place.estimatedWait }) }
    );
  } catch (err) {
    if (err instanceof api.WaitingRoomError && err.ticket !== null) {
      const ticket: string = err.ticket;
      show({ later: ticket, waited: err.waited, position: err.position });
      await client.addDependent({ name: '张小', id_type: 'cn_id', id_number: 'x' }, { ticket, queue: false });
    }
  }
}

async function everythingElse(): Promise<void> {
  const me = await client.me();
  const results = await client.results<ResultsBody>();
  const first = results.items[0];
  if (first) show({ status: first.status, me });
  const page = await client.history({ limit: 20 });
  if (typeof page['next_cursor'] === 'string') await client.history({ cursor: page['next_cursor'] });
  await client.giveConsent('privacy', '2026-01');
  await client.withdrawConsent('privacy');
  await client.startRealName({ name: '张三', id_type: 'cn_id', id_number: 'x' });
  await client.bindPhone({ code: 'phone-code' });
  await client.removeDependent('r_x');
  await client.approveLinkRequest('l_x');
  await client.declineLinkRequest('l_x');
  await client.removeHolder('h_x');
  const code: api.Code = await client.reissueCode('r_x');
  client.forgetCode('r_x');
  show({ code, account: client.account(), hint: api.accountOf(kept) });
  await client.reportSubscriptions({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-1': 'accept' });
  await client.reportSubscriptions(['tmpl-1']);
  await client.subscriptions();
  await client.appConfig();
  await client.legal();
  await client.exportData();
  const res: api.AdapterResponse = await client.request({ path: '/api/v1/me', responseType: 'arraybuffer' });
  show({ status: res.status, remaining: client.budget.remaining(), matrix: api.qrMatrix('t.o.k') });
  const { ended }: { ended: boolean } = await client.logout();
  await other.logoutEverywhere();
  await other.deleteAccount();
  client.setToken(null);
  show({ ended });
}

export { codeScreen, profile, everythingElse };
