using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>
/// What QEMU accepts for one device property on the command line, judged as QEMU judges a <c>-device key=value</c>
/// (its keyval input visitor, then the property's setter). Built only from what the catalog says about the property:
/// its QOM type name and, for the types QEMU describes, its description.
/// </summary>
internal abstract record PropertyValueType
{
    /// <summary>What the property takes, in words: "an integer from 0 to 4294967295 (decimal, 0x hex or 0-prefixed octal)".</summary>
    public abstract string Expected { get; }

    /// <summary>A value QEMU accepts.</summary>
    public abstract string Example { get; }

    /// <summary>Null when QEMU accepts <paramref name="value"/>; otherwise why not.</summary>
    public abstract ValueProblem? Judge(string value);

    /// <summary>The type of <paramref name="property"/>, or null for types whose values cannot be judged from the catalog
    /// (free strings, UUIDs, enums QEMU does not list) or that are not set on the command line (children, lists).</summary>
    public static PropertyValueType? Of(DeviceProperty property, QemuCatalog catalog, LinkTargets targets)
    {
        ArgumentNullException.ThrowIfNull(property);
        var description = property.Description ?? string.Empty;
        return property.Type switch
        {
            "bool" => new BoolValueType(),
            "size" => new SizeValueType(),
            // qdev's MAC address property is typed "str"; only its description tells it apart.
            "str" when description.StartsWith("Ethernet 6-byte MAC Address", StringComparison.Ordinal) => new MacAddressValueType(),
            // Free text: QEMU checks it only when the device is realized.
            "str" or "string" => null,
            // qdev's PCI address property: an int32 that the command line gives as "slot[.function]" in hex.
            "int32" when description.StartsWith("Slot and optional function number", StringComparison.Ordinal) => new PciAddressValueType(),
            _ when IntegerValueType.Parse(property.Type) is { } integer => integer,
            _ when LinkValueType.Parse(property.Type, catalog, targets) is { } link => link,
            _ => EnumValueType.Parse(property.Type, description),
        };
    }
}
