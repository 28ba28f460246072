//! The panel's interface strings in English and Russian.
//!
//! Each staff user picks a language (stored in `staff_user.language`,
//! changed on the profile page). Templates call `t("key")`; code passes
//! keys in views (labels, titles) and the templates translate them. A key
//! without a string shows as itself, and a test checks that every key used
//! in templates and code has both languages.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

/// An interface language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Russian.
    Ru,
}

impl Lang {
    /// Every language, for the profile page.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ru];

    /// The language of a code (`en`, `ru`); anything else is English.
    pub fn from_code(code: &str) -> Lang {
        match code {
            "ru" => Lang::Ru,
            _ => Lang::En,
        }
    }

    /// Its code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// Whether `code` names a supported language.
    pub fn is_supported(code: &str) -> bool {
        matches!(code, "en" | "ru")
    }
}

/// The string of `key` in `lang`; the key itself when there is none.
pub fn t(lang: Lang, key: &str) -> &str {
    match index().get(key) {
        Some(&(en, ru)) => match lang {
            Lang::En => en,
            Lang::Ru => ru,
        },
        None => key,
    }
}

/// Whether `key` has strings.
pub fn has(key: &str) -> bool {
    index().contains_key(key)
}

fn index() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static INDEX: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    INDEX.get_or_init(|| {
        std::iter::once(STRINGS)
            .chain(crate::pages::STRINGS.iter().copied())
            .flatten()
            .map(|(k, en, ru)| (*k, (*en, *ru)))
            .collect()
    })
}

/// `(key, English, Russian)`; a key appears once (a test checks).
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("account", "Account", "Аккаунт"),
    ("accounts", "Accounts", "Аккаунты"),
    ("actions", "Actions", "Действия"),
    ("active", "Active", "Активен"),
    ("active_accounts", "Active accounts", "Активные аккаунты"),
    ("all", "All", "Все"),
    ("all_operators", "All operators", "Все операторы"),
    ("api_keys", "API keys", "Ключи API"),
    ("apply", "Apply", "Применить"),
    ("assign", "Assign", "Назначить"),
    ("assign_tariff", "Assign a tariff", "Назначить тариф"),
    ("audit_log", "Audit log", "Журнал изменений"),
    ("back", "Back", "Назад"),
    ("back_office", "Back office", "Бэк-офис"),
    ("balance", "Balance", "Баланс"),
    ("billing_mode", "Billing mode", "Режим биллинга"),
    ("cancel", "Cancel", "Отмена"),
    ("categories", "Categories", "Категории"),
    ("category", "Category", "Категория"),
    ("cdn", "CDN router", "CDN-маршрутизатор"),
    ("change_password", "Change password", "Сменить пароль"),
    ("channel", "Channel", "Канал"),
    ("channels", "Channels", "Каналы"),
    ("chart_no_data", "No data yet", "Данных пока нет"),
    ("comment", "Comment", "Комментарий"),
    (
        "confirm_delete",
        "Delete this for good?",
        "Удалить безвозвратно?",
    ),
    (
        "confirm_logout_devices",
        "Log out every device of this account?",
        "Завершить сеансы всех устройств аккаунта?",
    ),
    ("content", "Content", "Контент"),
    ("create", "Create", "Создать"),
    ("created", "Created", "Создан"),
    ("csv", "CSV", "CSV"),
    ("current_password", "Current password", "Текущий пароль"),
    ("customer", "Customer", "Абонент"),
    ("customers", "Customers", "Абоненты"),
    (
        "daily_max_online",
        "Daily maximum online",
        "Максимум онлайн за сутки",
    ),
    ("dashboard", "Dashboard", "Обзор"),
    ("delete", "Delete", "Удалить"),
    ("deactivated", "Deactivated", "Отключено"),
    ("description", "Description", "Описание"),
    ("details", "Details", "Подробности"),
    ("device", "Device", "Устройство"),
    ("devices", "Devices", "Устройства"),
    ("dynamics", "Subscriber dynamics", "Динамика абонентов"),
    ("edit", "Edit", "Изменить"),
    ("email", "E-mail", "E-mail"),
    ("epg", "EPG", "Телегид"),
    (
        "epg_coverage",
        "Channels without guide for the next 24 h",
        "Каналы без телегида на ближайшие 24 ч",
    ),
    ("error", "Error", "Ошибка"),
    ("expires", "Expires", "Истекает"),
    (
        "form_expired",
        "The form has expired; please try again.",
        "Форма устарела; попробуйте ещё раз.",
    ),
    ("first_name", "First name", "Имя"),
    ("ingest", "Ingest", "Приём контента"),
    ("inactive", "Inactive", "Неактивен"),
    ("jobs_per_hour", "Jobs per hour", "Задания в час"),
    ("jobs", "Jobs", "Задания"),
    ("failures", "Failures", "Сбои"),
    ("new_accounts", "New accounts", "Новые аккаунты"),
    ("with_guide", "With guide", "С телегидом"),
    ("without_guide", "Without guide", "Без телегида"),
    ("period", "Period", "Период"),
    ("day", "Day", "День"),
    ("week", "Week", "Неделя"),
    ("month", "Month", "Месяц"),
    ("language", "Language", "Язык"),
    ("languages", "Languages", "Языки"),
    ("last_login", "Last login", "Последний вход"),
    ("last_name", "Last name", "Фамилия"),
    ("log_in", "Log in", "Войти"),
    ("log_out", "Log out", "Выйти"),
    ("login", "Login", "Логин"),
    (
        "login_failed",
        "Wrong user name or password.",
        "Неверное имя пользователя или пароль.",
    ),
    (
        "login_limited",
        "Too many failed logins; try again in 15 minutes.",
        "Слишком много неудачных попыток; повторите через 15 минут.",
    ),
    (
        "logout_all_devices",
        "Log out all devices",
        "Завершить сеансы всех устройств",
    ),
    ("messages", "Messages", "Сообщения"),
    ("name", "Name", "Название"),
    ("new_password", "New password", "Новый пароль"),
    ("next", "Next", "Далее"),
    ("no_rows", "Nothing found.", "Ничего не найдено."),
    ("online_now", "Online now", "Сейчас онлайн"),
    ("operator", "Operator", "Оператор"),
    ("operators", "Operators", "Операторы"),
    ("page", "Page", "Страница"),
    ("password", "Password", "Пароль"),
    (
        "password_changed",
        "The password is changed; your other logins are ended.",
        "Пароль изменён; другие ваши сеансы завершены.",
    ),
    ("phone", "Phone", "Телефон"),
    ("prev", "Previous", "Назад"),
    ("price", "Price", "Цена"),
    ("profile", "Profile", "Профиль"),
    (
        "redirects_per_edge",
        "Redirects per edge",
        "Перенаправления по edge-серверам",
    ),
    ("remove", "Remove", "Убрать"),
    ("request_log", "Request log", "Журнал запросов"),
    ("role", "Role", "Роль"),
    ("save", "Save", "Сохранить"),
    ("saved", "Saved.", "Сохранено."),
    ("search", "Search", "Поиск"),
    ("sessions", "Sessions", "Сеансы"),
    ("settings", "Settings", "Настройки"),
    (
        "sign_in_title",
        "Efir control room",
        "Пульт управления Эфир",
    ),
    ("state", "State", "Состояние"),
    ("status", "Status", "Статус"),
    ("streams", "Streams", "Потоки"),
    ("subscribers", "Subscribers", "Абоненты"),
    ("tariff", "Tariff", "Тариф"),
    ("tariffs", "Tariffs", "Тарифы"),
    ("time", "Time", "Время"),
    ("total", "Total", "Всего"),
    ("type", "Type", "Тип"),
    ("user", "User", "Пользователь"),
    ("username", "User name", "Имя пользователя"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_unique_and_complete() {
        let mut seen = std::collections::HashSet::new();
        let all: Vec<&(&str, &str, &str)> = std::iter::once(STRINGS)
            .chain(crate::pages::STRINGS.iter().copied())
            .flatten()
            .collect();
        for (k, _, _) in &all {
            assert!(seen.insert(*k), "duplicate key {k}");
        }
        for (k, en, ru) in all {
            assert!(!en.is_empty() && !ru.is_empty(), "{k} lacks a language");
        }
        assert_eq!(t(Lang::Ru, "customers"), "Абоненты");
        assert_eq!(t(Lang::En, "customers"), "Customers");
        assert_eq!(t(Lang::En, "no-such-key"), "no-such-key");
    }
}
