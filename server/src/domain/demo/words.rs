//! The demo organisation's words in each language it can be seeded in: people, places,
//! customers, what the engineers write and the manuals. Ids, models and the shape of the month
//! are the same in every language.

use fieldsync_protocol::Millis;

use crate::domain::planning::DAY;

/// A demo office user: (id, name, role, password).
pub type OfficeUser = (&'static str, &'static str, &'static str, &'static str);
/// A street of the demo's customers: (province, city, district, street); the parts above the
/// street are empty where addresses are written as one line.
pub type Street = (&'static str, &'static str, &'static str, &'static str);

/// A street of a one-line address.
const fn street(name: &'static str) -> Street {
    ("", "", "", name)
}

/// A demo engineer: (id, name, region, skills).
pub type Engineer = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// One manual section: (id, title, body; `{model}` in the body is the model).
type Section = (&'static str, &'static str, &'static str);

/// Every text of a demo organisation. Templates name their parts in braces: `{model}`,
/// `{category}`, `{surname}`, `{street}`, `{number}`, `{product}`.
pub(super) struct Words {
    /// Where the organisation works, ahead of UTC: its calls come in and its appointments start
    /// in its own working hours.
    pub utc_offset: Millis,
    pub dispatcher_name: &'static str,
    pub office: [OfficeUser; 2],
    pub engineers: [Engineer; 5],
    /// In the order of the engineers' regions: the streets of region `i` are `streets[2i]`
    /// and `streets[2i + 1]` where addresses follow the region.
    pub regions: [&'static str; 3],
    pub streets: [Street; 6],
    /// Where each street of `streets` is (latitude, longitude): the sites on it lie around it.
    pub street_positions: [(f64, f64); 6],
    /// Whether a street is chosen in the job's region (else anywhere).
    pub streets_by_region: bool,
    pub address: &'static str,
    pub faults: [&'static str; 4],
    pub installation: &'static str,
    pub annual_service: &'static str,
    pub safety_inspection: &'static str,
    pub surnames: [&'static str; 8],
    pub vip_customer: &'static str,
    pub customer: &'static str,
    pub phone: &'static str,
    pub email: &'static str,
    pub describe_installation: &'static str,
    pub describe_complaint: &'static str,
    pub describe_maintenance: &'static str,
    pub describe_inspection: &'static str,
    pub describe_repair: &'static str,
    pub fixed_note: &'static str,
    pub unfixed_note: &'static str,
    pub installation_cause: &'static str,
    pub repair_cause: &'static str,
    pub installation_fix: &'static str,
    pub repair_fix: &'static str,
    pub summary: &'static str,
    pub stalled_help: &'static str,
    pub unknown_fault_help: &'static str,
    pub happy_comment: &'static str,
    pub unhappy_comment: &'static str,
    pub manual_title: &'static str,
    /// Per model family (`HP`, `BX`, then the rest): the product's name and five sections.
    pub manuals: [(&'static str, [Section; 5]); 3],
}

pub(super) const ENGLISH: Words = Words {
    utc_offset: 0,
    dispatcher_name: "Dana Dispatch",
    office: [
        ("sofia", "Sofia Lind", "supervisor", "supervisor-demo"),
        (
            "hugo",
            "Hugo Brandt",
            "head_of_engineering",
            "head-of-engineering-demo",
        ),
    ],
    engineers: [
        (
            "anna",
            "Anna Berg",
            "north",
            &["HP", "installation", "no heat"],
        ),
        ("ben", "Ben Okafor", "south", &["BX", "repair", "leak"]),
        (
            "chen",
            "Chen Wei",
            "north",
            &["AC", "installation", "noise"],
        ),
        ("dora", "Dora Silva", "east", &["HP", "BX", "maintenance"]),
        ("emil", "Emil Novak", "south", &["AC", "HP", "error code"]),
    ],
    regions: ["north", "south", "east"],
    streets: [
        street("Main Street"),
        street("Harbour Road"),
        street("Mill Lane"),
        street("Station Square"),
        street("Orchard Way"),
        street("Kings Avenue"),
    ],
    // Around Edinburgh, as the English addresses read.
    street_positions: [
        (55.9533, -3.1883),
        (55.9755, -3.1710),
        (55.9240, -3.2100),
        (55.9460, -3.2180),
        (55.9390, -3.1500),
        (55.9650, -3.2450),
    ],
    streets_by_region: false,
    address: "{number} {street}",
    faults: ["no heat", "leak", "noise", "error code"],
    installation: "installation",
    annual_service: "annual service",
    safety_inspection: "safety inspection",
    surnames: [
        "Jensen",
        "Moreau",
        "Kowalski",
        "Tanaka",
        "Fischer",
        "Rossi",
        "Haddad",
        "Lindqvist",
    ],
    vip_customer: "Hotel {surname}",
    customer: "Family {surname}",
    phone: "+1 555 {number}",
    email: "{surname}{number}@example.com",
    describe_installation: "New {model} to install; old unit to be removed.",
    describe_complaint: "Customer unhappy: the {category} problem came back.",
    describe_maintenance: "Yearly service due.",
    describe_inspection: "Inspection required by the insurer.",
    describe_repair: "Customer reports {category} on the {model}.",
    fixed_note: "Found the fault, replaced the part and tested with the customer.",
    unfixed_note: "Part not on the van; ordered it, customer informed. Needs a second visit.",
    installation_cause: "new installation",
    repair_cause: "worn component",
    installation_fix: "installed and commissioned",
    repair_fix: "replaced the component and tested",
    summary: "Done, customer satisfied with the result.",
    stalled_help: "Error E7 persists after a controller reset",
    unknown_fault_help: "Controller fault I have not seen before",
    happy_comment: "Friendly and quick.",
    unhappy_comment: "Took too long to sort out.",
    manual_title: "{model} {product}: installation and service",
    manuals: [
        (
            "heat pump",
            [
                (
                    "safety",
                    "Safety",
                    "Isolate the supply at the fused spur and wait five minutes before opening the outdoor unit: the inverter capacitors hold a charge.",
                ),
                (
                    "installation",
                    "Installation",
                    "Mount the {model} on the wall brackets with 300 mm clearance at the back. Flush the heating circuit before connecting the flow and return.",
                ),
                (
                    "commissioning",
                    "Commissioning",
                    "Fill to 1.5 bar, bleed every radiator, then run the pump for ten minutes in service mode. Vérifier la soupape de sécurité avant la remise en service.",
                ),
                (
                    "faults",
                    "Fault codes",
                    "E4: low water pressure, top up and check for leaks. E7: flow sensor fault, check the sensor cable and the filter.",
                ),
                (
                    "install-zh",
                    "安装说明",
                    "安装前请关闭电源。安装完成后检查管道压力并排气。",
                ),
            ],
        ),
        (
            "boiler",
            [
                (
                    "safety",
                    "Safety",
                    "Turn off the gas at the appliance valve and test for tightness after any work on the gas train.",
                ),
                (
                    "installation",
                    "Installation",
                    "The {model} needs a 22 mm gas supply and a condensate drain with a trap. Fit the flue with a 3 degree fall back to the boiler.",
                ),
                (
                    "commissioning",
                    "Commissioning",
                    "Check the combustion ratio with an analyser at maximum and minimum rate; it must stay below 0.004.",
                ),
                (
                    "faults",
                    "Fault codes",
                    "F22: low pressure. F28: ignition failure, check the gas supply and the ignition electrode gap of 4 mm.",
                ),
                (
                    "maintenance",
                    "Annual service",
                    "Clean the heat exchanger, replace the burner gasket, check the expansion vessel charge at 1 bar.",
                ),
            ],
        ),
        (
            "air conditioner",
            [
                (
                    "safety",
                    "Safety",
                    "Recover the refrigerant before opening the circuit; never vent R32 to the air.",
                ),
                (
                    "installation",
                    "Installation",
                    "Keep the {model} indoor unit 150 mm below the ceiling. Pressure test the pipework with nitrogen at 40 bar for an hour.",
                ),
                (
                    "commissioning",
                    "Commissioning",
                    "Evacuate to 500 microns, open the service valves, then check the superheat after twenty minutes of running.",
                ),
                (
                    "faults",
                    "Fault codes",
                    "P4: compressor overheating, check the refrigerant charge. U4: communication error between the units, check the interconnecting cable.",
                ),
                (
                    "maintenance",
                    "Maintenance",
                    "Clean the filters every three months and the condensate pump every year.",
                ),
            ],
        ),
    ],
};

pub(super) const CHINESE: Words = Words {
    // China Standard Time, all year.
    utc_offset: 8 * 3_600_000,
    dispatcher_name: "王丹",
    office: [
        ("zhouli", "周丽", "supervisor", "supervisor-demo"),
        (
            "huanghai",
            "黄海",
            "head_of_engineering",
            "head-of-engineering-demo",
        ),
    ],
    engineers: [
        ("wangfang", "王芳", "华东", &["HP", "新机安装", "不制热"]),
        ("liqiang", "李强", "华南", &["BX", "维修", "漏水"]),
        ("chenwei", "陈伟", "华东", &["AC", "新机安装", "噪音"]),
        ("zhaomin", "赵敏", "华北", &["HP", "BX", "年度保养"]),
        ("liuyang", "刘洋", "华南", &["AC", "HP", "故障码"]),
    ],
    regions: ["华东", "华南", "华北"],
    streets: [
        ("上海市", "上海市", "浦东新区", "世纪大道"),
        ("上海市", "上海市", "徐汇区", "漕溪北路"),
        ("广东省", "广州市", "天河区", "天河路"),
        ("广东省", "广州市", "越秀区", "中山五路"),
        ("北京市", "北京市", "朝阳区", "建国路"),
        ("北京市", "北京市", "海淀区", "中关村大街"),
    ],
    street_positions: [
        (31.2286, 121.5265),
        (31.1920, 121.4370),
        (23.1325, 113.3240),
        (23.1270, 113.2680),
        (39.9087, 116.4600),
        (39.9830, 116.3160),
    ],
    streets_by_region: true,
    address: "{street}{number}号",
    faults: ["不制热", "漏水", "噪音", "故障码"],
    installation: "新机安装",
    annual_service: "年度保养",
    safety_inspection: "安全检查",
    surnames: ["张", "李", "王", "刘", "陈", "杨", "黄", "赵"],
    vip_customer: "{surname}氏酒店",
    customer: "{surname}先生",
    phone: "+86 138 0013 {number}",
    email: "customer{number}@example.cn",
    describe_installation: "新购{model}需要安装，旧机需拆除。",
    describe_complaint: "客户不满意：{category}问题又出现了。",
    describe_maintenance: "年度保养到期。",
    describe_inspection: "保险公司要求安全检查。",
    describe_repair: "客户反映{model}{category}。",
    fixed_note: "找到故障，更换配件后与客户一起试机正常。",
    unfixed_note: "车上没有配件，已订货并告知客户，需要二次上门。",
    installation_cause: "新机安装",
    repair_cause: "部件磨损",
    installation_fix: "安装并调试完成",
    repair_fix: "更换部件并测试",
    summary: "已完成，客户对结果满意。",
    stalled_help: "控制器复位后仍报E7故障",
    unknown_fault_help: "遇到从未见过的控制器故障",
    happy_comment: "服务热情，速度快。",
    unhappy_comment: "处理时间太长。",
    manual_title: "{model} {product}：安装与维护",
    manuals: [
        (
            "空气能热泵",
            [
                (
                    "safety",
                    "安全",
                    "打开室外机前先断开带保险丝的电源并等待五分钟：变频器电容仍有余电。",
                ),
                (
                    "installation",
                    "安装",
                    "将{model}固定在墙面支架上，背面留出300毫米间距。连接供回水管前先冲洗采暖管路。",
                ),
                (
                    "commissioning",
                    "调试",
                    "加压至1.5巴，逐个暖气片排气，然后在维修模式下运行水泵十分钟。",
                ),
                (
                    "faults",
                    "故障码",
                    "E4：水压低，补水并检查是否漏水。E7：流量传感器故障，检查传感器线缆和过滤器。",
                ),
                (
                    "maintenance",
                    "保养",
                    "每年检查安全阀和膨胀罐压力，清洗水路过滤器。",
                ),
            ],
        ),
        (
            "燃气壁挂炉",
            [
                (
                    "safety",
                    "安全",
                    "维修燃气管路前关闭设备燃气阀，完工后做气密性检测。",
                ),
                (
                    "installation",
                    "安装",
                    "{model}需要22毫米燃气管和带存水弯的冷凝水排水管。烟管向壁挂炉方向保持3度坡度。",
                ),
                (
                    "commissioning",
                    "调试",
                    "用烟气分析仪在最大和最小负荷下检查燃烧比，必须低于0.004。",
                ),
                (
                    "faults",
                    "故障码",
                    "F22：水压低。F28：点火失败，检查燃气供应和点火针间隙（4毫米）。",
                ),
                (
                    "maintenance",
                    "年度保养",
                    "清洗换热器，更换燃烧器密封垫，检查膨胀罐预充压力为1巴。",
                ),
            ],
        ),
        (
            "空调",
            [
                (
                    "safety",
                    "安全",
                    "打开冷媒管路前先回收冷媒；严禁将R32排放到空气中。",
                ),
                (
                    "installation",
                    "安装",
                    "{model}室内机距离天花板150毫米。用氮气以40巴对管路保压一小时。",
                ),
                (
                    "commissioning",
                    "调试",
                    "抽真空至500微米，打开截止阀，运行二十分钟后检查过热度。",
                ),
                (
                    "faults",
                    "故障码",
                    "P4：压缩机过热，检查冷媒量。U4：内外机通信故障，检查连接线。",
                ),
                (
                    "maintenance",
                    "保养",
                    "每三个月清洗滤网，每年清洗冷凝水泵。",
                ),
            ],
        ),
    ],
};

impl Words {
    /// When the organisation's day holding `at` starts.
    pub fn day_of(&self, at: Millis) -> Millis {
        let local = at + self.utc_offset;
        local - local.rem_euclid(DAY) - self.utc_offset
    }
}

/// Fills a template's `{name}` parts.
pub(super) fn fill(template: &str, parts: &[(&str, &str)]) -> String {
    parts
        .iter()
        .fold(template.to_owned(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}
